"""The benchmark's one simulator: a scheduler core and a searcher on a learning-curve table (no Ray).

A run has ``W`` simulated workers.  Every epoch of table row ``r`` takes ``duration(r, e)``
simulated seconds (a fixed ``epoch_time``, or the durations a curve recorder measured); events are
processed in time order, ties by worker index, and after all results of one instant are delivered
each free worker asks the scheduler core which pending or paused trial to run.  A CONTINUE keeps
the trial on its worker; PAUSE frees the worker and makes the trial runnable again (it resumes at
its next epoch: epochs are counted once); STOP ends it.  Unlike Ray Tune, which also starts
PENDING trials on its own when resources are free, the simulator starts only what the core
chooses: the scheduler's intended order.

The core is driven only through :class:`hpo.protocols.SchedulerCore`, the row source only through
:class:`hpo.protocols.Searcher` (:mod:`hpo.bench.rows`): a trial gets its configuration when it
first starts, and the row it trains is :func:`hpo.bench.table.pick_row` of it.  A trial whose
searcher has nothing left is removed without training.  Nothing in a run depends on the wall
clock: the same seed gives the same event log.  ``restore_at=N`` sends the core's state through
JSON into a fresh core after the N-th result (the ``--resume`` check).
"""
from __future__ import annotations

import heapq
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from hpo.protocols import CONTINUE, PAUSE, STOP, SchedulerCore, Searcher

from .table import CurveTable, pick_row


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
    trial_rows: dict[str, int] = field(default_factory=dict)  # trial id -> row (started trials)
    per_trial_epochs: dict[str, int] = field(default_factory=dict)  # trial id -> epochs trained
    core: Any = None  # the core that finished the run (a fresh one after restore_at)


def trial_ids(n: int) -> list[str]:
    """The simulator's trial ids, in the order they are added to the core."""
    return [f"t{i:05d}" for i in range(n)]


def fixed_duration(epoch_time: float = 1.0) -> Callable[[int, int], float]:
    return lambda row, epoch: epoch_time


def recorded_duration(seconds: np.ndarray) -> Callable[[int, int], float]:
    """Durations from a (rows x epochs) array of measured seconds (epoch is 1-based)."""
    return lambda row, epoch: float(seconds[row, epoch - 1])


def simulate(core: SchedulerCore, table: CurveTable, source: Searcher, *, max_epochs: int, n_trials: int,
             workers: int = 2, duration: Callable[[int, int], float] | None = None, epoch_cap: int | None = None,
             restore_at: int | None = None, make_core: Callable[[], SchedulerCore] | None = None) -> SimResult:
    """Run ``core`` with ``n_trials`` trials to the end, or until ``epoch_cap`` epochs have been
    trained (a compute budget; the run then returns its incumbent, as a time-limited experiment
    would).  The incumbent is the first trial to reach the lowest loss at ``max_epochs``."""
    if max_epochs > table.max_epochs:
        raise ValueError(f"max_epochs={max_epochs} exceeds the table's {table.max_epochs} epochs")
    if workers < 1 or n_trials < 1:
        raise ValueError("need workers >= 1 and n_trials >= 1")
    if restore_at is not None and make_core is None:
        raise ValueError("restore_at needs make_core")
    duration = duration or fixed_duration()
    t0 = time.perf_counter()
    ids = trial_ids(n_trials)
    index = {t: i for i, t in enumerate(ids)}
    done = {t: 0 for t in ids}
    state = {t: "pending" for t in ids}  # pending | paused | running | ended
    row_of: dict[str, int] = {}
    started: list[str] = []
    for t in ids:
        core.on_trial_add(t)
    core.seal()
    best_final = float(table.curves[:, -1].min())
    free = list(range(workers))
    events: list[tuple[float, int, str]] = []  # (time, worker, trial)
    now, total = 0.0, 0
    log: list[tuple[float, int, str, int, int, str]] = []
    anytime: list[tuple[int, float]] = []
    incumbent: tuple[float, int] | None = None  # (loss at R, row)

    def drain() -> None:
        for t in core.take_stops():
            if state[t] in ("pending", "paused"):
                state[t] = "ended"
                core.on_trial_remove(t)
                if t in row_of:
                    source.on_complete(t)

    def end(t: str) -> None:
        state[t] = "ended"
        core.on_trial_complete(t)
        source.on_complete(t)
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
                config = source.suggest(t)
                if config is None:  # the searcher has no configuration left: the trial never runs
                    state[t] = "ended"
                    core.on_trial_remove(t)
                    drain()
                    continue
                row_of[t] = pick_row(table, config)
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
            source.on_result(t, e, loss)
            decision = core.on_result(t, e, loss)
            if decision not in (CONTINUE, PAUSE, STOP):
                raise RuntimeError(f"core returned {decision!r}")
            log.append((now, w, t, row_of[t], e, decision))
            if restore_at is not None and len(log) == restore_at:
                fresh = make_core()
                fresh.set_state(json.loads(json.dumps(core.get_state(), allow_nan=False)))
                core = fresh
            if e == max_epochs and (incumbent is None or loss < incumbent[0]):
                incumbent = (loss, row_of[t])
                anytime.append((total, table.final_loss(incumbent[1]) - best_final))
            drain()
            if decision == CONTINUE and e < max_epochs:
                heapq.heappush(events, (now + duration(row_of[t], e + 1), w, t))
                continue
            if decision == PAUSE and e < max_epochs:
                state[t] = "paused"
            else:  # STOP, or the trainable ran out of epochs
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
                     rows=[row_of[t] for t in started], anytime=anytime, log=log, trial_rows=dict(row_of),
                     per_trial_epochs=done, core=core)
