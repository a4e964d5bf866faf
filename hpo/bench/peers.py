"""Ray-free peers for the scheduler benchmark, each driven by its own code on a curve table.

* Optuna (Akiba et al., KDD 2019): ``TPESampler`` with ``HyperbandPruner`` (Li et al., JMLR 2018)
  or ``SuccessiveHalvingPruner`` (asynchronous SHA, Li et al., MLSys 2020), ``study.optimize``
  on a function that reads the table epoch by epoch (one worker: Optuna's own sequential loop,
  deterministic for a seed).

Also the search space of a curve table's hyperparameters (model-based methods search these and
the replay trainable maps a configuration to the nearest row).  Ray Tune's peers (its ASHA,
HyperBand and BOHB) live behind the Ray door, in :mod:`hpo.ray.bench`.
"""
from __future__ import annotations

import math
import time
from typing import Any, Mapping

import numpy as np

from hpo.space import Choice, Distribution, IntRange, Uniform
from .table import CurveTable

from .rows import paired_rows
from .simtime import SimResult


def table_space(table: CurveTable, max_choices: int = 10) -> dict[str, Distribution]:
    """Per column: ``choice`` of its values when it has at most ``max_choices`` distinct ones,
    ``loguniform`` over its range when positive and spanning more than two decades, else
    ``uniform``."""
    space: dict[str, Distribution] = {}
    for j, name in enumerate(table.hyperparameters):
        col = table.params[:, j]
        values = np.unique(col)
        lo, hi = float(values[0]), float(values[-1])
        if len(values) <= max_choices:
            space[name] = Choice(tuple(float(v) for v in values))
        elif lo > 0 and hi / lo > 100:
            space[name] = Uniform(lo, hi, log=True)
        else:
            space[name] = Uniform(lo, hi)
    return space


def optuna_distributions(space: Mapping[str, Distribution]) -> dict[str, Any]:
    import optuna.distributions as od

    out: dict[str, Any] = {}
    for name, d in space.items():
        if isinstance(d, Choice):
            out[name] = od.CategoricalDistribution(list(d.values))
        elif isinstance(d, IntRange):
            out[name] = od.IntDistribution(d.low, d.high, log=d.log)
        elif isinstance(d, Uniform) and not d.q:
            out[name] = od.FloatDistribution(d.low, d.high, log=d.log)
        else:
            raise ValueError(f"no Optuna distribution for {name!r} ({d.type})")
    return out


def optuna_pruned(table: CurveTable, *, pruner: str, seed: int, n_trials: int, max_epochs: int,
                  eta: int = 2, n_startup: int = 10, epoch_cap: int | None = None,
                  replace: bool = True) -> SimResult:
    """Optuna TPE + ``pruner`` ("hyperband" or "sha"), sequential; the first ``n_startup``
    configurations are the seed's paired rows; the study stops once ``epoch_cap`` epochs are
    spent (the trial running then is cut there), or, with ``replace=False``, once every row of
    the table is used (a sampled configuration then maps to the nearest row not yet used).
    Returns the same record as a simulated run (``sim_time`` = epochs, one worker)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    if pruner == "hyperband":
        p = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=eta)
    elif pruner == "sha":
        p = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=eta, min_early_stopping_rate=0)
    else:
        raise ValueError(f"unknown pruner {pruner!r}")
    # HyperbandPruner assigns brackets by a hash of the study name: fix it for determinism
    study = optuna.create_study(direction="minimize", pruner=p, study_name=f"bench-{pruner}-{seed}",
                                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup))
    rows0 = paired_rows(table.n_rows, n_startup if replace else min(n_startup, table.n_rows), seed)
    for r in rows0:
        study.enqueue_trial(table.row_config(r))
    dists = optuna_distributions(table_space(table))
    best_final = float(table.curves[:, -1].min())
    counter = {"epochs": 0}
    rows: list[int] = []
    anytime: list[tuple[int, float]] = []
    incumbent: list[float] = [math.inf]

    def objective(trial) -> float:
        params = {k: _suggest(trial, k, d) for k, d in dists.items()}
        # an enqueued start-up trial keeps its exact paired row (tables repeat configurations)
        if trial.number < len(rows0):
            row = rows0[trial.number]
        elif replace:
            row = table.nearest_row(params)
        else:
            row = table.nearest_row(params, exclude=rows)
        rows.append(row)
        if not replace and len(rows) >= table.n_rows:
            trial.study.stop()  # the pool is empty: this trial is the last
        for e in range(1, max_epochs + 1):
            if epoch_cap is not None and counter["epochs"] >= epoch_cap:
                trial.study.stop()
                raise optuna.TrialPruned()
            loss = float(table.curves[row, e - 1])
            counter["epochs"] += 1
            trial.report(loss, e)
            if e < max_epochs and trial.should_prune():
                raise optuna.TrialPruned()
        if loss < incumbent[0]:
            incumbent[0] = loss
            anytime.append((counter["epochs"], table.final_loss(row) - best_final))
        return loss

    study.optimize(objective, n_trials=n_trials)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if done:
        best = min(done, key=lambda t: (t.value, t.number))
        row = rows[best.number]
        final = table.final_loss(row)
        loss_at_r = float(best.value)
    else:
        row, final, loss_at_r = None, math.inf, math.inf
    return SimResult(epochs=counter["epochs"], trials_started=len(rows), chosen_row=row, loss_at_R=loss_at_r,
                     final_loss=final, regret=final - best_final, sim_time=float(counter["epochs"]),
                     wall_s=time.perf_counter() - t0, rows=rows, anytime=anytime)


def _suggest(trial, name: str, dist) -> Any:
    import optuna.distributions as od

    if isinstance(dist, od.CategoricalDistribution):
        return trial.suggest_categorical(name, list(dist.choices))
    if isinstance(dist, od.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
