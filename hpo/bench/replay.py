"""Deterministic simulated-time replay of a scheduler core on a learning-curve table (no Ray).

Each trial is a table row (drawn by a seeded RNG: the sequence of rows depends only on the seed,
so every scheduler sees the same configurations — "paired seeds").  ``W`` simulated workers each
train one trial at a time; an epoch takes ``epoch_time`` simulated seconds and "training" reads
the next loss of the row.  Events are processed in time order (ties by worker index); after all
results of an instant are delivered, each free worker asks the core which runnable (pending or
paused) trial to run.  A CONTINUE keeps the trial on its worker; PAUSE frees the worker and makes
the trial runnable again (it resumes at its next epoch: epochs are counted once); STOP ends it.

Unlike Ray Tune, which also starts PENDING trials on its own when resources are free, the replay
starts only what the core chooses — the scheduler's intended order.
"""
from __future__ import annotations

import heapq
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from hpo.protocols import CONTINUE, PAUSE, STOP
from trainables.replay.table import CurveTable


def paired_rows(n_rows: int, n_trials: int, seed: int) -> list[int]:
    """Rows for trials 0..n_trials-1: concatenated seeded permutations (no repeats within a pass)."""
    rng = np.random.default_rng(seed)
    rows: list[int] = []
    while len(rows) < n_trials:
        rows.extend(int(r) for r in rng.permutation(n_rows))
    return rows[:n_trials]


@dataclass
class ReplayResult:
    epochs: int
    trials: int
    chosen_trial: str | None
    chosen_row: int | None
    chosen_loss: float  # loss of the chosen trial at max_epochs (what the scheduler saw)
    final_loss: float  # the chosen row's last table column
    regret: float  # final_loss - best final loss in the table
    sim_time: float
    wall_s: float
    workers: int
    stop_reasons: dict[str, int] = field(default_factory=dict)  # outcome value -> trials
    per_trial_epochs: dict[str, int] = field(default_factory=dict)
    log: list[tuple[str, int, str]] = field(default_factory=list)  # (trial, epoch, decision)


def replay(core, table: CurveTable, *, max_epochs: int, n_trials: int, seed: int, workers: int = 1,
           epoch_time: float = 1.0, restore_at: int | None = None,
           make_core: Callable[[], Any] | None = None, rows: list[int] | None = None) -> ReplayResult:
    """Run ``core`` to the end.  With ``restore_at=N`` and ``make_core``, after the N-th result the
    core's state goes through JSON into a fresh ``make_core()`` that carries on (``--resume`` check).
    ``rows`` overrides the seeded rows (trial i trains row ``rows[i]``)."""
    if max_epochs > table.max_epochs:
        raise ValueError(f"max_epochs={max_epochs} exceeds the table's {table.max_epochs} epochs")
    if workers < 1:
        raise ValueError("workers must be >= 1")
    t0 = time.perf_counter()
    rows = list(rows) if rows is not None else paired_rows(table.n_rows, n_trials, seed)
    if len(rows) != n_trials:
        raise ValueError(f"{len(rows)} rows given for {n_trials} trials")
    ids = [f"t{i:05d}" for i in range(n_trials)]
    row_of = dict(zip(ids, rows))
    index = {t: i for i, t in enumerate(ids)}
    done_epochs = {t: 0 for t in ids}
    state = {t: "pending" for t in ids}  # pending | paused | running | ended
    for t in ids:
        core.on_trial_add(t)
    core.seal()
    free = list(range(workers))
    events: list[tuple[float, int, str]] = []  # (time, worker, trial)
    now, total = 0.0, 0
    log: list[tuple[str, int, str]] = []

    def drain_stops() -> None:
        for t in core.take_stops():
            if state[t] in ("pending", "paused"):
                state[t] = "ended"
                core.on_trial_remove(t)

    def runnable() -> list[str]:
        return sorted((t for t in ids if state[t] in ("pending", "paused")), key=index.__getitem__)

    while True:
        free.sort()
        while free:
            t = core.choose_trial_to_run(runnable())
            drain_stops()
            if t is None:
                break
            if state.get(t) not in ("pending", "paused"):
                raise RuntimeError(f"core chose trial {t!r} which is not runnable")
            w = free.pop(0)
            state[t] = "running"
            heapq.heappush(events, (now + epoch_time, w, t))
        if not events:
            break
        now = events[0][0]
        while events and events[0][0] == now:
            _, w, t = heapq.heappop(events)
            e = done_epochs[t] + 1
            done_epochs[t] = e
            total += 1
            decision = core.on_result(t, e, float(table.curves[row_of[t], e - 1]))
            log.append((t, e, decision))
            if restore_at is not None and len(log) == restore_at:
                fresh = make_core()
                fresh.set_state(json.loads(json.dumps(core.get_state(), allow_nan=False)))
                core = fresh
            drain_stops()
            if decision == CONTINUE and e < max_epochs:
                heapq.heappush(events, (now + epoch_time, w, t))
                continue
            if decision == PAUSE and e < max_epochs:
                state[t] = "paused"
            else:  # STOP, or the trainable ran out of epochs
                if decision not in (CONTINUE, PAUSE, STOP):
                    raise RuntimeError(f"core returned {decision!r}")
                state[t] = "ended"
                core.on_trial_complete(t)
                drain_stops()
            free.append(w)
    stuck = [t for t in ids if state[t] != "ended"]
    if stuck:
        raise RuntimeError(f"replay deadlock: {len(stuck)} trials never ended (e.g. {stuck[:3]})")
    finished = [t for t in ids if done_epochs[t] >= max_epochs]
    chosen = min(finished, key=lambda t: (table.curves[row_of[t], max_epochs - 1], index[t]), default=None)
    best_final = float(table.curves[:, -1].min())
    row = row_of[chosen] if chosen else None
    final = table.final_loss(row) if chosen else float("inf")
    reasons = Counter(str(r.outcome) if (r := core.stop_reason(t)) else "none" for t in ids)
    return ReplayResult(
        epochs=total, trials=n_trials, chosen_trial=chosen, chosen_row=row,
        chosen_loss=float(table.curves[row, max_epochs - 1]) if chosen else float("inf"),
        final_loss=final, regret=final - best_final, sim_time=now, wall_s=time.perf_counter() - t0,
        workers=workers, stop_reasons=dict(reasons), per_trial_epochs=done_epochs, log=log)
