"""The scheduler benchmark's Ray side: Ray Tune's own peers and Ray-driven replay runs.

* Ray Tune's ``ASHAScheduler``, ``HyperBandScheduler`` and ``HyperBandForBOHB`` + ``TuneBOHB``
  (BOHB: Falkner et al., ICML 2018), built with ``time_attr="hpo_epoch"`` for ``hpo.tune``;
* :class:`RayASHACore`: Ray's ASHA decision code as a :class:`hpo.protocols.SchedulerCore`, so the
  Ray-free simulator (:mod:`hpo.bench.simtime`) can drive it deterministically;
* :func:`ray_run`: one run of a benchmark method through ``hpo.tune`` on the replay trainable.
  Random-row methods get the seed's paired rows from a sequence searcher; model-based methods
  search the table's hyperparameters (the replay trainable maps them to the nearest row).  The
  run's answer is computed from the recorded curves with one rule for every method: among trials
  that reached ``max_epochs``, the lowest loss there.  Epochs = results reported (resumed epochs
  are not re-reported, so this is the compute spent).

Ray is imported lazily, inside the functions, so importing this module is cheap.
"""
from __future__ import annotations

import math
import shutil
import tempfile
import time
from typing import Any

from hpo.bench.methods import MODEL_BASED, trials_for
from hpo.bench.peers import optuna_distributions, table_space
from hpo.bench.rows import paired_rows
from hpo.bench.table import CurveTable
from hpo.protocols import CONTINUE, EPOCH_KEY, STOP, Decision, Outcome, StopReason


def ray_asha(max_epochs: int, eta: int = 2, grace_period: int = 1):
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr=EPOCH_KEY, max_t=max_epochs, grace_period=grace_period, reduction_factor=eta)


def ray_hyperband(max_epochs: int, eta: int = 2):
    from ray.tune.schedulers import HyperBandScheduler

    return HyperBandScheduler(time_attr=EPOCH_KEY, max_t=max_epochs, reduction_factor=eta)


def ray_bohb(table: CurveTable, *, max_epochs: int, eta: int, seed: int, metric: str, n_startup: int = 10):
    """``(HyperBandForBOHB, TuneBOHB)`` over the table's hyperparameters; TuneBOHB's first
    ``n_startup`` points are the seed's paired rows (its ``points_to_evaluate``)."""
    from ray.tune.schedulers import HyperBandForBOHB
    from ray.tune.search.bohb import TuneBOHB

    from hpo.space import to_tune_space

    points = [table.row_config(r) for r in paired_rows(table.n_rows, n_startup, seed)]
    searcher = TuneBOHB(space=to_tune_space(table_space(table)), metric=metric, mode="min", seed=seed,
                        points_to_evaluate=points)
    sched = HyperBandForBOHB(time_attr=EPOCH_KEY, max_t=max_epochs, reduction_factor=eta)
    return sched, searcher


def row_sequence_searcher(rows: list[int], metric: str):
    """A Ray ``Searcher`` proposing ``{"row": rows[k]}`` for the k-th trial (paired rows), then done."""
    from ray.tune.search import Searcher

    class RowSequence(Searcher):
        def __init__(self):
            super().__init__(metric=metric, mode="min")
            self.k = 0

        def suggest(self, trial_id: str):
            if self.k >= len(rows):
                return Searcher.FINISHED
            self.k += 1
            return {"row": int(rows[self.k - 1])}

        def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
            pass

    return RowSequence()


class RayASHACore:
    """Ray's own ``ASHAScheduler`` decision code as a :class:`hpo.protocols.SchedulerCore`, so the
    simulator can drive it deterministically (it only CONTINUEs or STOPs, and Tune's FIFO order
    starts trials).  Trials are light stand-ins carrying ``trial_id``.  A benchmark stand-in: it
    has no JSON state."""

    kind = "ray-asha"
    uses_pause = False

    class _Trial:
        def __init__(self, trial_id: str):
            self.trial_id = trial_id

        def __repr__(self) -> str:
            return self.trial_id

    def __init__(self, max_epochs: int, eta: int = 2, grace_period: int = 1, metric: str = "loss"):
        self.sched = ray_asha(max_epochs, eta, grace_period)
        self.sched.set_search_properties(metric, "min")
        self.metric, self.max_epochs = metric, max_epochs
        self.trials: dict[str, RayASHACore._Trial] = {}
        self.status: dict[str, str] = {}
        self.reasons: dict[str, StopReason] = {}

    def on_trial_add(self, trial_id: str) -> None:
        self.trials[trial_id] = t = self._Trial(trial_id)
        self.status[trial_id] = "pending"
        self.sched.on_trial_add(None, t)

    def on_result(self, trial_id: str, epoch: int, loss: float) -> Decision:
        out = self.sched.on_trial_result(None, self.trials[trial_id], {EPOCH_KEY: epoch, self.metric: loss})
        self.status[trial_id] = "running"
        if epoch >= self.max_epochs:
            self.reasons[trial_id] = StopReason(Outcome.COMPLETED, epoch=epoch)
            return STOP
        if out == "STOP":
            self.reasons[trial_id] = StopReason(Outcome.STOPPED_RUNG, epoch=epoch, rule="rank")
            return STOP
        return CONTINUE

    def on_trial_complete(self, trial_id: str) -> None:
        if self.status.get(trial_id) not in ("stopped", "completed", "removed"):
            done = trial_id in self.reasons and self.reasons[trial_id].outcome is Outcome.COMPLETED
            self.status[trial_id] = "completed" if done else "stopped"
            self.sched.on_trial_complete(None, self.trials[trial_id], {})

    def on_trial_remove(self, trial_id: str) -> None:
        if self.status.get(trial_id) not in ("stopped", "completed", "removed"):
            self.status[trial_id] = "removed"
            self.reasons.setdefault(trial_id, StopReason(Outcome.REMOVED))
            self.sched.on_trial_complete(None, self.trials[trial_id], {})

    def choose_trial_to_run(self, runnable) -> str | None:
        runnable = list(runnable)
        return runnable[0] if runnable else None

    def seal(self) -> None:
        pass

    def take_stops(self) -> list[str]:
        return []  # Ray's ASHA never ends a trial that is not reporting

    def trial_status(self, trial_id: str) -> str | None:
        return self.status.get(trial_id)

    def stop_reason(self, trial_id: str) -> StopReason | None:
        return self.reasons.get(trial_id)

    def get_state(self) -> dict[str, Any]:
        raise NotImplementedError("RayASHACore is a benchmark stand-in: no persistence")

    def set_state(self, state) -> None:
        raise NotImplementedError("RayASHACore is a benchmark stand-in: no persistence")


def tune_kwargs(method: str, table: CurveTable, *, seed: int, max_epochs: int, eta: int,
                n_trials: int) -> dict[str, Any]:
    metric = "loss"
    kw: dict[str, Any] = {"num_samples": n_trials}
    if method in MODEL_BASED:
        kw["space"] = table_space(table)
    else:
        import hpo

        kw["space"] = {"row": hpo.randint(0, table.n_rows - 1)}
        kw["search"] = row_sequence_searcher(paired_rows(table.n_rows, n_trials, seed), metric)
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
        kw["search"] = OptunaSearch(space=optuna_distributions(kw["space"]), metric=metric, mode="min",
                                    sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=10),
                                    points_to_evaluate=points)
    elif method == "ray-asha":
        kw["scheduler"] = ray_asha(max_epochs, eta)
    elif method == "ray-hyperband":
        kw["scheduler"] = ray_hyperband(max_epochs, eta)
    elif method == "ray-bohb":
        kw["scheduler"], kw["search"] = ray_bohb(table, max_epochs=max_epochs, eta=eta, seed=seed,
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
