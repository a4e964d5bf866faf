"""Row sources of the simulator: :class:`hpo.protocols.Searcher` implementations over a curve table.

A table is a pool of trained configurations.  ``suggest`` returns ``{"row": r}`` (the simulator
trains row ``r``; :func:`hpo.bench.table.pick_row`), or None once the source has nothing left.

* :class:`PairedRows`: the ``k``-th configuration started is row ``paired_rows(seed)[k]`` for every
  method ("paired seeds", the same candidate stream for every random-sampling method);
* :class:`AssignedRows`: a fixed row per trial id (hand-made test cases);
* :class:`BOHBRows`: BOHB's KDE sampler (:class:`hpo.bohb.BOHBCore`; Falkner et al., ICML 2018)
  over the table's hyperparameters, the sampled configuration mapped to a row;
* :class:`TPERows`: Optuna's TPE sampler (Bergstra et al., NeurIPS 2011) likewise.

Two drawing modes.  ``replace=True`` (the benchmark's first protocol): the paired stream is
concatenated seeded permutations, so a run longer than the table repeats rows, and a model's
configuration maps to the nearest row, used or not.  ``replace=False`` (a table is a finite pool):
every row is drawn at most once, the stream ends with the table, and a model's configuration maps
to the nearest row *not yet used*; random draws take the next unused row of the paired stream.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .table import CurveTable


def paired_rows(n_rows: int, n_trials: int, seed: int) -> list[int]:
    """Rows for trials 0..n_trials-1: concatenated seeded permutations (no repeats within a pass)."""
    rng = np.random.default_rng(seed)
    rows: list[int] = []
    while len(rows) < n_trials:
        rows.extend(int(r) for r in rng.permutation(n_rows))
    return rows[:n_trials]


class PairedRows:
    """Rows in the seed's paired order (start order ``k`` gets ``rows[k]``)."""

    def __init__(self, table: CurveTable, seed: int, n: int, *, replace: bool = True):
        self.table = table
        self.replace = replace
        self.rows = paired_rows(table.n_rows, max(n, 1) if replace else table.n_rows, seed)
        self.k = 0  # configurations given so far
        self.used: set[int] = set()
        self._cursor = 0  # without replacement: next position of the paired stream to look at

    # ---- Searcher protocol -----------------------------------------------------------------
    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        row = self._next_paired()
        if row is None:
            return None
        return {"row": self._take(row)}

    def on_result(self, trial_id: str, epoch: int, loss: float) -> None:
        pass

    def on_complete(self, trial_id: str) -> None:
        pass

    @property
    def finished(self) -> bool:
        return not self.replace and len(self.used) >= self.table.n_rows

    def get_state(self) -> dict[str, Any]:
        return {"k": self.k, "used": sorted(self.used), "cursor": self._cursor}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.k, self.used, self._cursor = int(state["k"]), set(state["used"]), int(state["cursor"])

    # ---- helpers -----------------------------------------------------------------------------
    def _next_paired(self) -> int | None:
        """The paired row of the next position (with replacement), or the next unused one."""
        if self.replace:
            return self.rows[self.k % len(self.rows)]
        while self._cursor < len(self.rows) and self.rows[self._cursor] in self.used:
            self._cursor += 1
        return self.rows[self._cursor] if self._cursor < len(self.rows) else None

    def _take(self, row: int) -> int:
        self.k += 1
        self.used.add(row)
        return row

    def _map(self, config: Mapping[str, Any]) -> int:
        """A model's configuration -> the nearest row (not yet used, without replacement)."""
        if self.replace:
            return self.table.nearest_row(dict(config))
        return self.table.nearest_row(dict(config), exclude=self.used)


class AssignedRows(PairedRows):
    """Trial ``t`` trains row ``rows[t]`` (a fixed assignment, whatever the start order)."""

    def __init__(self, table: CurveTable, rows: Mapping[str, int]):
        super().__init__(table, 0, 1)
        self.assigned = dict(rows)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        return {"row": self._take(int(self.assigned[trial_id]))}


class BOHBRows(PairedRows):
    """BOHB's KDE sampler over the table's hyperparameters (our :class:`hpo.bohb.BOHBCore`).

    The core is built with ``random_fraction=0``; this source takes the random decisions itself
    (probability ``random_fraction``, or while the core has no model yet) and then uses the paired
    row of that position, so random draws are the same rows every other method sees."""

    def __init__(self, table: CurveTable, seed: int, n: int, space: Mapping[str, Any],
                 random_fraction: float = 1 / 3, *, replace: bool = True, **options: Any):
        super().__init__(table, seed, n, replace=replace)
        from hpo.bohb import BOHBCore

        self.core = BOHBCore(space, seed, random_fraction=0.0, **options)
        self.random_fraction = random_fraction
        self.rng = np.random.default_rng([seed, 7])
        self.config: dict[str, dict[str, Any]] = {}
        self.n_model = 0

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        paired = self._next_paired()
        if paired is None:
            return None
        if self.rng.random() < self.random_fraction or self.core.model_budget() is None:
            row = paired
        else:
            row = self._map(self.core.suggest())
            self.n_model += 1
        self.config[trial_id] = self.table.row_config(row)
        return {"row": self._take(row)}

    def on_result(self, trial_id: str, epoch: int, loss: float) -> None:
        self.core.observe(self.config[trial_id], epoch, loss, key=trial_id)

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "core": self.core.get_state(), "rng": self.rng.bit_generator.state,
                "config": self.config, "n_model": self.n_model}

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.core.set_state(state["core"])
        self.rng.bit_generator.state = state["rng"]
        self.config = {k: dict(v) for k, v in state["config"].items()}
        self.n_model = int(state["n_model"])


class TPERows(PairedRows):
    """Optuna's ``TPESampler(seed)``; the first ``n_startup`` configurations are the paired rows
    (enqueued), each trial is told its last reported loss when it ends (as Ray's ``OptunaSearch``
    does), so stopped trials count with the loss they stopped at."""

    def __init__(self, table: CurveTable, seed: int, n: int, space: Mapping[str, Any], n_startup: int = 10,
                 *, replace: bool = True):
        super().__init__(table, seed, n, replace=replace)
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

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.finished:
            return None
        trial = self.study.ask(self.dists)
        self.trials[trial_id] = trial
        if self.k < self.n_startup:  # the enqueued paired row itself (tables repeat configurations)
            return {"row": self._take(self.rows[self.k])}
        return {"row": self._take(self._map(trial.params))}

    def on_result(self, trial_id: str, epoch: int, loss: float) -> None:
        self.last[trial_id] = loss

    def on_complete(self, trial_id: str) -> None:
        if trial_id in self.trials:
            self.study.tell(self.trials.pop(trial_id), self.last.get(trial_id, math.inf))

    def get_state(self) -> dict[str, Any]:
        raise NotImplementedError("TPERows: Optuna's in-memory study has no JSON state (benchmark only)")

    def set_state(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError("TPERows: Optuna's in-memory study has no JSON state (benchmark only)")
