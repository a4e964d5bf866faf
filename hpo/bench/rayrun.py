"""One Ray-driven replay run of a benchmark method through ``hpo.tune`` (ours and Ray's peers).

Random-row methods get the seed's paired rows from a sequence searcher; model-based methods
search the table's hyperparameters (the replay trainable maps them to the nearest row).  The run's
answer is computed from the recorded curves with one rule for every method: among trials that
reached ``max_epochs``, the lowest loss there.  Epochs = results reported (resumed epochs are not
re-reported, so this is the compute spent).
"""
from __future__ import annotations

import math
import shutil
import tempfile
import time
from typing import Any

from trainables.replay.table import CurveTable

from . import peers
from .methods import MODEL_BASED, trials_for
from .replay import paired_rows


def tune_kwargs(method: str, table: CurveTable, *, seed: int, max_epochs: int, eta: int,
                n_trials: int) -> dict[str, Any]:
    metric = "loss"
    kw: dict[str, Any] = {"num_samples": n_trials}
    if method in MODEL_BASED:
        kw["space"] = peers.table_space(table)
    else:
        import hpo

        kw["space"] = {"row": hpo.randint(0, table.n_rows - 1)}
        kw["search"] = peers.row_sequence_searcher(paired_rows(table.n_rows, n_trials, seed), metric)
    if method == "asha":
        kw["scheduler"] = {"name": "asha", "grace_period": 1, "reduction_factor": eta}
    elif method == "hyperband":
        kw["scheduler"] = {"name": "hyperband", "eta": eta}
    elif method in ("swift-svr", "swift-qsvr"):
        kw["scheduler"] = {"name": "swift", "eta": eta}
        kw["predictor"] = method.split("-")[1]
    elif method == "random-full":
        kw["scheduler"] = "fifo"
    elif method == "bohb-hb":
        kw["scheduler"] = {"name": "hyperband", "eta": eta}
        kw["search"] = "bohb"
    elif method == "tpe-asha":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        points = [table.row_config(r) for r in paired_rows(table.n_rows, 10, seed)]
        kw["scheduler"] = {"name": "asha", "grace_period": 1, "reduction_factor": eta}
        kw["search"] = OptunaSearch(space=peers.optuna_distributions(kw["space"]), metric=metric, mode="min",
                                    sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=10),
                                    points_to_evaluate=points)
    elif method == "ray-asha":
        kw["scheduler"] = peers.ray_asha(max_epochs, eta)
    elif method == "ray-hyperband":
        kw["scheduler"] = peers.ray_hyperband(max_epochs, eta)
    elif method == "ray-bohb":
        kw["scheduler"], kw["search"] = peers.ray_bohb(table, max_epochs=max_epochs, eta=eta, seed=seed,
                                                       metric=metric)
    else:
        raise ValueError(f"unknown method {method!r}")
    return kw


def ray_run(method: str, table: CurveTable, *, seed: int, max_epochs: int, eta: int, asha_trials: int,
            random_trials: int) -> dict[str, Any]:
    import hpo

    n_trials = trials_for(method, max_epochs, eta, asha_trials, random_trials)
    kw = tune_kwargs(method, table, seed=seed, max_epochs=max_epochs, eta=eta, n_trials=n_trials)
    storage = tempfile.mkdtemp(prefix="hpo_bench_ray_")
    t0 = time.perf_counter()
    try:
        res = hpo.tune("replay", metric="loss", mode="min", max_epochs=max_epochs, seed=seed, storage=storage,
                       name=f"{method}-{seed}", max_concurrent=2, num_cpus=2,
                       trainable_args={"table": table.path}, verbose=False, **kw)
        wall = time.perf_counter() - t0
        curves = res.curves
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    best_final = float(table.curves[:, -1].min())
    at_r = curves[curves["epoch"] == max_epochs]
    if len(at_r):
        best = at_r.sort_values(["loss"], kind="stable").iloc[0]
        row, loss_r = int(best["row"]), float(best["loss"])
        final = table.final_loss(row)
    else:
        row, loss_r, final = None, math.inf, math.inf
    first = curves.drop_duplicates("trial_id")
    return {"method": method, "seed": seed, "epochs": int(len(curves)), "trials": int(first["trial_id"].nunique()),
            "row": row, "loss_at_R": loss_r, "final_loss": final, "regret": final - best_final,
            "wall_s": wall}
