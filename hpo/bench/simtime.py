"""Simulated-time replay with a searcher in the loop: deterministic scheduler comparisons.

A run has ``W`` simulated workers.  Every epoch of table row ``r`` takes ``duration(r, e)``
simulated seconds (a fixed ``epoch_time``, or the durations a curve recorder measured); events are
processed in time order, ties by worker index, and after all results of one instant are delivered
each free worker asks the scheduler core which pending or paused trial to run.  A trial gets its
table row only when it first starts, from a *row source*:

* :class:`PairedRows`: the ``k``-th configuration started is row ``paired_rows(seed)[k]`` for every
  method (paired seeds, as in :mod:`hpo.bench.replay`);
* :class:`BOHBRows`: BOHB's sampler (:class:`hpo.bohb.BOHBCore`, Falkner et al., ICML 2018) over
  the table's hyperparameters, the sampled configuration mapped to the nearest row;
* :class:`TPERows`: Optuna's TPE sampler (Bergstra et al., NeurIPS 2011) likewise.

(A table may hold several trainings of one configuration — the MLPF Delphes table has 183
distinct configurations in 296 rows — and ``nearest_row`` maps a configuration to the first of
them; a paired random draw keeps its exact row.)

In both model-based sources every *random* draw (start-up and BOHB's random fraction) at position
``k`` is the paired row ``k``, so all methods share the same random rows for a seed.  Nothing in a
run depends on the wall clock: the same seed gives the same event log.
"""
from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from hpo.protocols import CONTINUE, PAUSE, STOP
from trainables.replay.table import CurveTable

from .replay import paired_rows


class PairedRows:
    """Rows in the seed's paired order (start order ``k`` gets ``rows[k]``)."""

    def __init__(self, table: CurveTable, seed: int, n: int):
        self.table = table
        self.rows = paired_rows(table.n_rows, max(n, 1), seed)
        self.k = 0

    def next_row(self, trial_id: str) -> int:
        row = self.rows[self.k % len(self.rows)]
        self.k += 1
        return row

    def observe(self, trial_id: str, epoch: int, loss: float) -> None:
        pass

    def complete(self, trial_id: str) -> None:
        pass


class BOHBRows(PairedRows):
    """BOHB's KDE sampler over the table's hyperparameters (our :class:`hpo.bohb.BOHBCore`).

    The core is built with ``random_fraction=0``; this source takes the random decisions itself
    (probability ``random_fraction``, or while the core has no model yet) and then uses the paired
    row of that position, so random draws are the same rows every other method sees."""

    def __init__(self, table: CurveTable, seed: int, n: int, space: Mapping[str, Any],
                 random_fraction: float = 1 / 3, **options: Any):
        super().__init__(table, seed, n)
        from hpo.bohb import BOHBCore

        self.core = BOHBCore(space, seed, random_fraction=0.0, **options)
        self.random_fraction = random_fraction
        self.rng = np.random.default_rng([seed, 7])
        self.config: dict[str, dict[str, Any]] = {}
        self.n_model = 0

    def next_row(self, trial_id: str) -> int:
        paired = super().next_row(trial_id)
        if self.rng.random() < self.random_fraction or self.core.model_budget() is None:
            row = paired
        else:
            row = self.table.nearest_row(self.core.suggest())
            self.n_model += 1
        self.config[trial_id] = self.table.row_config(row)
        return row

    def observe(self, trial_id: str, epoch: int, loss: float) -> None:
        self.core.observe(self.config[trial_id], epoch, loss, key=trial_id)


class TPERows(PairedRows):
    """Optuna's ``TPESampler(seed)``; the first ``n_startup`` configurations are the paired rows
    (enqueued), each trial is told its last reported loss when it ends (as Ray's ``OptunaSearch``
    does), so stopped trials count with the loss they stopped at."""

    def __init__(self, table: CurveTable, seed: int, n: int, space: Mapping[str, Any], n_startup: int = 10):
        super().__init__(table, seed, n)
        import optuna

        from .peers import optuna_distributions

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.dists = optuna_distributions(space)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup)
        self.study = optuna.create_study(direction="minimize", sampler=sampler, study_name=f"bench-tpe-{seed}")
        for k in range(min(n_startup, len(self.rows))):
            self.study.enqueue_trial(table.row_config(self.rows[k]))
        self.n_startup = n_startup
        self.trials: dict[str, Any] = {}
        self.last: dict[str, float] = {}

    def next_row(self, trial_id: str) -> int:
        trial = self.study.ask(self.dists)
        self.trials[trial_id] = trial
        self.k += 1
        if self.k <= self.n_startup:  # the enqueued paired row itself (tables repeat configurations)
            return self.rows[self.k - 1]
        return self.table.nearest_row(trial.params)

    def observe(self, trial_id: str, epoch: int, loss: float) -> None:
        self.last[trial_id] = loss

    def complete(self, trial_id: str) -> None:
        if trial_id in self.trials:
            self.study.tell(self.trials.pop(trial_id), self.last.get(trial_id, math.inf))


@dataclass
class SimResult:
    epochs: int
    trials_started: int
    chosen_row: int | None
    loss_at_R: float
    final_loss: float
    regret: float
    sim_time: float
    wall_s: float
    rows: list[int] = field(default_factory=list)  # rows in start order
    anytime: list[tuple[int, float]] = field(default_factory=list)  # (epochs so far, regret of incumbent)
    log: list[tuple[float, int, str, int, int, str]] = field(default_factory=list)  # t, worker, trial, row, epoch, decision


def fixed_duration(epoch_time: float = 1.0) -> Callable[[int, int], float]:
    return lambda row, epoch: epoch_time


def recorded_duration(seconds: np.ndarray) -> Callable[[int, int], float]:
    """Durations from a (rows x epochs) array of measured seconds (epoch is 1-based)."""
    return lambda row, epoch: float(seconds[row, epoch - 1])


def simulate(core, table: CurveTable, source, *, max_epochs: int, n_trials: int, workers: int = 2,
             duration: Callable[[int, int], float] | None = None, epoch_cap: int | None = None) -> SimResult:
    """Run ``core`` (a :class:`hpo.protocols.SchedulerCore`) with ``n_trials`` trials to the end,
    or until ``epoch_cap`` epochs have been trained (a compute budget; the run then returns its
    incumbent, as a time-limited experiment would)."""
    if max_epochs > table.max_epochs:
        raise ValueError(f"max_epochs={max_epochs} exceeds the table's {table.max_epochs} epochs")
    if workers < 1 or n_trials < 1:
        raise ValueError("need workers >= 1 and n_trials >= 1")
    duration = duration or fixed_duration()
    t0 = time.perf_counter()
    ids = [f"t{i:05d}" for i in range(n_trials)]
    index = {t: i for i, t in enumerate(ids)}
    done = {t: 0 for t in ids}
    state = {t: "pending" for t in ids}
    row_of: dict[str, int] = {}
    started: list[str] = []
    for t in ids:
        core.on_trial_add(t)
    if hasattr(core, "seal"):
        core.seal()
    best_final = float(table.curves[:, -1].min())
    free = list(range(workers))
    events: list[tuple[float, int, str]] = []
    now, total = 0.0, 0
    log: list[tuple[float, int, str, int, int, str]] = []
    anytime: list[tuple[int, float]] = []
    incumbent: tuple[float, int] | None = None  # (loss at R, row)

    def drain() -> None:
        for t in core.take_stops() if hasattr(core, "take_stops") else []:
            if state[t] in ("pending", "paused"):
                state[t] = "ended"
                core.on_trial_remove(t)
                if t in row_of:
                    source.complete(t)

    def end(t: str) -> None:
        state[t] = "ended"
        core.on_trial_complete(t)
        source.complete(t)
        drain()

    while True:
        free.sort()
        while free:
            runnable = sorted((t for t in ids if state[t] in ("pending", "paused")), key=index.__getitem__)
            t = core.choose_trial_to_run(runnable)
            drain()
            if t is None:
                break
            if state.get(t) not in ("pending", "paused"):
                raise RuntimeError(f"core chose trial {t!r} which is not runnable")
            if t not in row_of:
                row_of[t] = source.next_row(t)
                started.append(t)
            w = free.pop(0)
            state[t] = "running"
            heapq.heappush(events, (now + duration(row_of[t], done[t] + 1), w, t))
        if not events or (epoch_cap is not None and total >= epoch_cap):
            break
        now = events[0][0]
        while events and events[0][0] == now and (epoch_cap is None or total < epoch_cap):
            _, w, t = heapq.heappop(events)
            e = done[t] = done[t] + 1
            total += 1
            loss = float(table.curves[row_of[t], e - 1])
            source.observe(t, e, loss)
            decision = core.on_result(t, e, loss)
            if decision not in (CONTINUE, PAUSE, STOP):
                raise RuntimeError(f"core returned {decision!r}")
            log.append((now, w, t, row_of[t], e, decision))
            if e == max_epochs and (incumbent is None or loss < incumbent[0]):
                incumbent = (loss, row_of[t])
                anytime.append((total, table.final_loss(incumbent[1]) - best_final))
            drain()
            if decision == CONTINUE and e < max_epochs:
                heapq.heappush(events, (now + duration(row_of[t], e + 1), w, t))
                continue
            if decision == PAUSE and e < max_epochs:
                state[t] = "paused"
            else:
                end(t)
            free.append(w)
    stuck = [t for t in ids if state[t] != "ended"]
    if stuck and (epoch_cap is None or total < epoch_cap):
        raise RuntimeError(f"simulation deadlock: {len(stuck)} trials never ended (e.g. {stuck[:3]})")
    row = incumbent[1] if incumbent else None
    final = table.final_loss(row) if row is not None else math.inf
    return SimResult(epochs=total, trials_started=len(row_of), chosen_row=row,
                     loss_at_R=incumbent[0] if incumbent else math.inf, final_loss=final,
                     regret=final - best_final, sim_time=now, wall_s=time.perf_counter() - t0,
                     rows=[row_of[t] for t in started], anytime=anytime, log=log)
