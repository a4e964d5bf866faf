"""Build, restore and run the Ray Tune ``Tuner`` of one experiment.

Everything Tune-specific about a run lives here: the trial function with its resources, the
searcher and scheduler as Tune objects, our callbacks, and the restore of a crashed run.  Tune's
``Tuner.restore`` rebuilds the scheduler and callbacks from its pickle but offers no public way to
reach them; :func:`_restored_parts` is the one place that reads Tune's private attributes, for the
Ray versions it knows.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import ray
from ray import tune
from ray.tune.execution.placement_groups import PlacementGroupFactory
from ray.tune.search import BasicVariantGenerator
from ray.tune.stopper import CombinedStopper

from hpo import components, disk_errors, results, searchers
from hpo.components import Context
from hpo.config import ExperimentConfig
from hpo.distributed import TrialResources
from hpo.errors import ConfigError
from hpo.progress import say
from hpo.protocols import Objective, StopReason

from . import cluster, fallback
from .callbacks import HpoCallback
from .metrics import HpoMetricsCallback, MetricsAccount
from .scheduler import SchedulerView, build_ray_scheduler, view
from .searcher import build as build_search_alg
from .space import to_tune_space
from .trial import make_trial_function
from .watchdog import Deadline, StallGuard

log = logging.getLogger("hpo")
RESTORE_KNOWN_RAY = ("2.60.",)  # versions whose Tuner internals _restored_parts was written against


@dataclass
class RunRecord:
    """What a finished (or stopped) run leaves for the service to write."""
    store: results.CurveStore
    statuses: dict[str, str]
    errors: dict[str, str]
    reasons: dict[str, StopReason]
    scheduler: SchedulerView
    t0: float
    stalled: list[str] = field(default_factory=list)
    stall_message: str = ""


def connect(cfg: ExperimentConfig, object_store_memory: int | None) -> cluster.ClusterInfo:
    res = cfg.resources
    slots = cluster.trial_slots(res.num_cpus or cluster.detect_cpus(), cluster.detect_gpus(), res.workers_per_trial,
                                res.cpus_per_worker, res.gpus_per_worker, res.max_concurrent)
    info = cluster.connect(cfg.address, num_cpus=res.num_cpus, slots=slots, dashboard_host=cfg.dashboard_host,
                           object_store_memory=object_store_memory)
    try:  # a joined cluster's GPUs are known only now
        cluster.check_gpus(res.gpus_per_worker, res.workers_per_trial, info.num_gpus)
    except ConfigError as exc:
        cluster.disconnect(info)
        raise exc.with_source(cfg.source) from None
    return info


def can_restore(path: Path) -> bool:
    return tune.Tuner.can_restore(str(path))


def _predictor_factory(cfg: ExperimentConfig, instances: dict[str, Any]) -> Callable[[], Any] | None:
    if "predictor" in instances:
        from sklearn.base import clone

        proto = instances["predictor"]
        return lambda: clone(proto)
    if cfg.predictor is None:
        return None
    spec = components.spec("predictor", cfg.predictor.name)
    options, ctx, seed = dict(cfg.predictor.options), Context(cfg.budget.max_epochs, cfg.space), cfg.seed
    return lambda: spec.build(options, ctx, seed)


def _trainable(cfg: ExperimentConfig, path: Path, args: dict, train_fn, has_slots: bool):
    res = cfg.resources
    trial_res = TrialResources(res.workers_per_trial, res.cpus_per_worker, res.gpus_per_worker,
                               storage=str(path / "train"), metric=cfg.metric)
    fn = make_trial_function(train_fn or cfg.trainable, args=args, max_epochs=cfg.budget.max_epochs,
                             metric=cfg.metric, resources=trial_res)
    bundle: dict[str, float] = {}
    if res.workers_per_trial == 1:
        bundle["CPU"] = res.cpus_per_worker
        if res.gpus_per_worker:
            bundle["GPU"] = res.gpus_per_worker
    else:
        bundle["CPU"] = 0 if has_slots else 0.01
    if has_slots:
        bundle[cluster.SLOT] = 1
    return tune.with_resources(fn, PlacementGroupFactory([bundle]))


def run(cfg: ExperimentConfig, path: Path, args: dict, info: cluster.ClusterInfo, train_fn,
        instances: dict[str, Any], restore: bool, record: dict | None = None) -> RunRecord:
    """``restore``: continue through Tune's own snapshot; ``record``: continue from our
    ``hpo_state.json`` in a new Tune run instead (Tune's snapshot was torn: :mod:`hpo.ray.fallback`)."""
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's console box names its own classes (SearchGenerator, CoreTrialScheduler) and points
    # TensorBoard at a temporary /tmp/ray session; our own lines say what runs and where results go.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    quiet_trial_failures()
    t0 = time.monotonic()
    if info.dashboard_url:
        token = cluster.token_file()
        say(f"Ray dashboard: {info.dashboard_url}")
        if token:
            say(f"dashboard login token: {token}")
    trainable = _trainable(cfg, path, args, train_fn, info.has_slots)
    if restore:
        _refuse_restart()  # the service checked the snapshot files (hpo.ray.snapshot.check_restorable)
        say(f"resuming {path}")
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, resume_errored=True)
        scheduler, callback = _restored_parts(tuner)
        callback.path, callback.t0 = path, t0
        callback.guard.reset()
    else:
        tuner, scheduler, callback = _new_tuner(cfg, path, trainable, instances, info, record)
    # Tune's ResultGrid re-reads per-trial files we do not use; after a restore it warns about
    # trials whose files were never synced.  Our results come from the callback's own records.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    with disk_errors.Watch() as watch:
        try:
            tuner.fit()
        except Exception as exc:  # a full disk or read-only filesystem: its cause, in one line
            err = disk_errors.find(exc) or watch.error
            if err is None:
                raise
            raise disk_errors.stopped(err, path) from exc
    return RunRecord(callback.store, callback.statuses, callback.errors, scheduler.stop_reasons(), scheduler,
                     callback.t0, list(callback.guard.stalled), callback.guard.message() if callback.guard.stalled
                     else "")


class _DropTrialFailureNoise(logging.Filter):
    """Tune's end-of-run list of trials that did not complete: our summary says it, per reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Trials did not complete")


def quiet_trial_failures() -> None:
    """A failed trial is one ``[hpo]`` line (``HpoCallback``), not Ray's traceback.

    Tune logs each trial failure with its full traceback (``TUNE_PRINT_ALL_TRIAL_ERRORS``) and its
    new console output prints an "errored after ... Error file" block per failure and retry
    (``RAY_AIR_NEW_OUTPUT=0`` selects the legacy reporter, which is silent at ``verbose=0``).  Both
    are defaults only: a user who sets them keeps Ray's output.  The traceback stays in each
    trial's ``error.txt``, whose path the failure line and ``trials.parquet`` give."""
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # also set in run() for Tune's console box
    tune_log = logging.getLogger("ray.tune.tune")
    if not any(isinstance(f, _DropTrialFailureNoise) for f in tune_log.filters):
        tune_log.addFilter(_DropTrialFailureNoise())


class _RefuseRestart(logging.Filter):
    """Tune 2.60 answers a snapshot it cannot restore by logging "Failed to restore the run state"
    and starting the experiment again from nothing, over the results.  Raised from the log call
    (inside Tune's ``except`` block), this refusal ends ``fit()`` before any trial starts."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Failed to restore the run state"):
            cause = record.exc_info[1] if record.exc_info else None
            why = f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}" if cause else "?"
            raise ConfigError(f"Ray Tune could not restore the snapshot ({why[:200]}); refusing to start the "
                              "experiment again over its results; nothing was changed", "resume")
        return True


def _refuse_restart() -> None:
    log_ = logging.getLogger("ray.tune.execution.tune_controller")
    if not any(isinstance(f, _RefuseRestart) for f in log_.filters):
        log_.addFilter(_RefuseRestart())


def _restored_parts(tuner: tune.Tuner) -> tuple[SchedulerView, HpoCallback]:
    """The scheduler and our callback that ``Tuner.restore`` unpickled (one pickle: shared references).

    Tune 2.60 keeps them on the private ``_local_tuner``; other versions may not, so this refuses
    them clearly rather than resuming with an empty scheduler."""
    if not ray.__version__.startswith(RESTORE_KNOWN_RAY):
        raise ConfigError(f"--resume was written for Ray {', '.join(RESTORE_KNOWN_RAY)}x; this is Ray "
                          f"{ray.__version__}: resume with the Ray version that ran the experiment", "resume")
    internal = tuner._local_tuner
    scheduler = view(internal._tune_config.scheduler)
    callback = next(c for c in internal._run_config.callbacks if isinstance(c, HpoCallback))
    return scheduler, callback


def _new_tuner(cfg: ExperimentConfig, path: Path, trainable, instances: dict[str, Any],
               info: cluster.ClusterInfo, record: dict | None = None) -> tuple[tune.Tuner, SchedulerView, HpoCallback]:
    objective = Objective(cfg.metric, cfg.mode)
    sname = cfg.scheduler.name
    ray_scheduler = instances.get("scheduler") or build_ray_scheduler(
        sname, objective=objective, options=cfg.scheduler.options, max_epochs=cfg.budget.max_epochs,
        seed=cfg.seed, predictor_factory=_predictor_factory(cfg, instances))
    scheduler = view(ray_scheduler)
    res = cfg.resources
    max_concurrent = cluster.trial_slots(info.num_cpus, info.num_gpus, res.workers_per_trial, res.cpus_per_worker,
                                         res.gpus_per_worker, res.max_concurrent)
    cap = None if scheduler.uses_pause else max_concurrent  # pausing runs are capped by resources
    if "search" in instances:
        search_alg, forced = instances["search"], None
        param_space = _space_for_instance(search_alg, cfg)
    else:
        seed = cfg.seed
        if record is not None and cfg.search.name not in ("random", "grid"):  # a model-based searcher restarts
            seed = fallback.derived_seed(cfg.seed, len(fallback.plan(record, path)["order"]))
        search_alg, param_space, forced = build_search_alg(
            cfg.search.name, cfg.search.options, cfg.space, objective=objective, seed=seed,
            max_epochs=cfg.budget.max_epochs, max_concurrent=cap)
    if isinstance(search_alg, BasicVariantGenerator):
        cap = None  # the generator caps itself; Tune's max_concurrent_trials only wraps Searchers
    num_samples = cfg.budget.num_samples
    planned = None if "scheduler" in instances else \
        components.spec("scheduler", sname).planned_trials(cfg.scheduler.options, cfg.budget.max_epochs)
    if planned is not None and planned != num_samples:
        say(f"scheduler {sname!r} plans {planned} trials for max_epochs={cfg.budget.max_epochs} "
            f"(budget.num_samples={num_samples} is not used)")
        num_samples = planned
    if forced is not None:
        num_samples = forced * searchers.grid_size(cfg.space)
        say(f"grid search: {searchers.grid_size(cfg.space)} configurations")
    if scheduler.uses_pause and not info.has_slots:
        log.warning("cluster has no '%s' resource: concurrency of the pausing scheduler %r is bounded by "
                    "CPUs only (start nodes with --resources '{\"%s\": N}' to cap it)", cluster.SLOT, sname,
                    cluster.SLOT)
    store = results.CurveStore(cfg.metric, cfg.mode)
    guard = StallGuard()
    callback = HpoCallback(store, path, scheduler, guard, total=num_samples)
    account = MetricsAccount(store, reasons=scheduler.stop_reasons, diagnostics=scheduler.diagnostics(),
                             max_epochs=cfg.budget.max_epochs)
    metrics_callback = HpoMetricsCallback(account, experiment=cfg.name)
    if record is not None:
        search_alg, cap, num_samples = fallback.continue_run(record, cfg, path, callback, scheduler, search_alg, cap,
                                                           num_samples if forced is None else 1)
        forced = None
    say(f"experiment {cfg.name}: {num_samples} trials of {cfg.trainable!s} x {cfg.budget.max_epochs} epochs, "
        f"scheduler {cfg.scheduler.name}, search {cfg.search.name}"
        + (f", predictor {cfg.predictor.name}" if cfg.predictor else "")
        + f", up to {max_concurrent} concurrent, results in {path}")
    if "tensorboard" in cfg.tracking:
        say(f"TensorBoard: tensorboard --logdir {path}")
    if "mlflow" in cfg.tracking:
        say(f"MLflow: mlflow ui --backend-store-uri {mlflow_uri(path)}")
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=cfg.metric, mode=cfg.mode, num_samples=num_samples if forced is None else 1,
            search_alg=search_alg, scheduler=ray_scheduler,
            max_concurrent_trials=cap,
            reuse_actors=cfg.resources.workers_per_trial == 1),
        run_config=tune.RunConfig(
            name=cfg.name, storage_path=str(path.parent),
            callbacks=[callback, metrics_callback, *tracking_callbacks(cfg, path)], verbose=0,
            # the time limit counts from now (Tune's time_budget_s starts after its set-up)
            stop=CombinedStopper(guard, Deadline(cfg.budget.time_limit_s)) if cfg.budget.time_limit_s else guard,
            failure_config=tune.FailureConfig(max_failures=2),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None)),  # pruned by HpoCallback, after snapshots
    )
    return tuner, scheduler, callback


def mlflow_uri(path: Path) -> str:
    """MLflow's store for an experiment: one SQLite file beside its results (MLflow 3 retired the
    plain-folder store)."""
    return f"sqlite:///{path / 'mlflow.db'}"


def tracking_callbacks(cfg: ExperimentConfig, path: Path) -> list:
    """Ray Tune's own logger callbacks for ``tracking:``: TensorBoard event files in each trial's
    folder under the experiment (``tensorboard --logdir STORAGE/NAME``), MLflow runs in a local SQLite
    store ``STORAGE/NAME/mlflow.db`` (``mlflow ui --backend-store-uri sqlite:///STORAGE/NAME/mlflow.db``)."""
    out = []
    if "tensorboard" in cfg.tracking:
        from ray.tune.logger import TBXLoggerCallback

        out.append(TBXLoggerCallback())
    if "mlflow" in cfg.tracking:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        for name in ("mlflow", "alembic"):  # schema set-up chatter on the first run
            logging.getLogger(name).setLevel(logging.WARNING)

        out.append(MLflowLoggerCallback(tracking_uri=mlflow_uri(path), experiment_name=cfg.name,
                                        save_artifact=False))
    return out


def _space_for_instance(search_alg, cfg: ExperimentConfig) -> dict[str, Any]:
    """Tune's ``param_space`` for a search algorithm passed as an instance.  Tune's variant generator
    needs the space itself; a ``Searcher`` is offered ours through its public
    ``set_search_properties`` and keeps its own if it has one (Ray refuses both at once)."""
    from ray.tune.search import BasicVariantGenerator

    space = to_tune_space(cfg.space)
    if isinstance(search_alg, BasicVariantGenerator):
        return space
    search_alg.set_search_properties(cfg.metric, cfg.mode, space)
    return {}
