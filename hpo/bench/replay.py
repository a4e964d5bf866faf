"""Replay of a scheduler core on a learning-curve table with fixed rows per trial (no Ray).

A thin call of the one simulator (:func:`hpo.bench.simtime.simulate`): trial ``i`` trains row
``rows[i]`` (by default the seed's paired rows, :func:`hpo.bench.rows.paired_rows`, so every
scheduler sees the same configurations), each epoch takes ``epoch_time``.  The answer is the rule
of the Hyperband papers: among trials that reached ``max_epochs``, the lowest loss there (ties:
the earlier trial).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from .rows import AssignedRows, paired_rows
from .simtime import fixed_duration, simulate, trial_ids
from .table import CurveTable

__all__ = ["ReplayResult", "paired_rows", "replay"]


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
    rows = list(rows) if rows is not None else paired_rows(table.n_rows, n_trials, seed)
    if len(rows) != n_trials:
        raise ValueError(f"{len(rows)} rows given for {n_trials} trials")
    ids = trial_ids(n_trials)
    r = simulate(core, table, AssignedRows(table, dict(zip(ids, rows))), max_epochs=max_epochs,
                 n_trials=n_trials, workers=workers, duration=fixed_duration(epoch_time),
                 restore_at=restore_at, make_core=make_core)
    index = {t: i for i, t in enumerate(ids)}
    finished = [t for t in ids if r.per_trial_epochs[t] >= max_epochs]
    chosen = min(finished, key=lambda t: (table.curves[r.trial_rows[t], max_epochs - 1], index[t]), default=None)
    row = r.trial_rows[chosen] if chosen else None
    final = table.final_loss(row) if chosen else float("inf")
    best_final = float(table.curves[:, -1].min())
    reasons = Counter(str(s.outcome) if (s := r.core.stop_reason(t)) else "none" for t in ids)
    return ReplayResult(
        epochs=r.epochs, trials=n_trials, chosen_trial=chosen, chosen_row=row,
        chosen_loss=float(table.curves[row, max_epochs - 1]) if chosen else float("inf"),
        final_loss=final, regret=final - best_final, sim_time=r.sim_time, wall_s=r.wall_s,
        workers=workers, stop_reasons=dict(reasons), per_trial_epochs=r.per_trial_epochs,
        log=[(t, e, d) for _, _, t, _, e, d in r.log])
