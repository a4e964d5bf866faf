"""Run one experiment on Ray Tune: the service behind ``python -m hpo.run`` and ``hpo.tune``.

Order of work: everything that can fail on user input is checked before Ray starts (the config is
already validated); the trainable's ``prepare`` hook runs on the driver; the resolved experiment is
written to ``STORAGE/NAME/experiment.yaml``; then Ray is started (or joined), the searcher,
scheduler and trial function are built, and ``Tuner.fit`` runs with our callback recording curves
and printing progress.

Crash-safe resume: Tune never saves scheduler state, so our callback's ``get_state`` carries the
scheduler's state (rungs, brackets, predictor curves) and the recorded curves, and Tune writes it
atomically with its own experiment snapshot (trial table, searcher state).  ``resume_experiment``
restores both from the same snapshot, so they always agree.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from . import cluster, registry, reporting, results, schedulers, searchers
from .config import ExperimentConfig
from .distributed import TrialResources
from .errors import ConfigError, ExperimentStalled
from .protocols import Diagnostics
from .trial import make_trial_function
from .watchdog import StallGuard

log = logging.getLogger("hpo")
CONFIG_FILE = "experiment.yaml"


def _say(msg: str) -> None:
    print(f"[hpo] {msg}", flush=True)


def results_dir(cfg: ExperimentConfig) -> Path:
    return Path(cfg.storage).expanduser().resolve() / cfg.name


def _predictor_factory(cfg: ExperimentConfig) -> Callable[[], Any] | None:
    if cfg.predictor is None:
        return None
    api = registry.check_predictor(cfg.predictor.name)
    name, options, seed = cfg.predictor.name, dict(cfg.predictor.options), cfg.seed
    return lambda: api.build_predictor(name, options, seed=seed)


def _make_callback(store: results.CurveStore, path: Path, metric: str, scheduler: Any, guard: StallGuard):
    from ray.tune import Callback

    class HpoCallback(Callback):
        """Records curves and statuses, prints progress, and carries the resumable state."""

        def __init__(self):
            self.store, self.scheduler, self.path, self.metric = store, scheduler, path, metric
            self.guard = guard  # also the run's Stopper: ends a run whose paused trials nothing resumes
            self.statuses: dict[str, str] = {}
            self.errors: dict[str, str] = {}
            self.t0 = time.monotonic()
            self.flush = results.Throttle(20.0)
            self.progress = results.Throttle(10.0)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.store.add(trial.trial_id, result, trial.config)
            if self.flush.ready():
                results.flush_curves(self.path, self.store)

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.statuses[trial.trial_id] = "TERMINATED"

        def on_trial_error(self, iteration, trials, trial, **info):
            self.statuses[trial.trial_id] = "ERROR"
            err = getattr(trial, "error_msg", None) or "trial raised an error"
            self.errors[trial.trial_id] = str(err).strip().splitlines()[-1][:300]

        def on_step_end(self, iteration, trials, **info):
            self.guard.observe(trials)
            if self.progress.ready():
                _say(progress_line(trials, self.store, self.metric, time.monotonic() - self.t0))

        def on_experiment_end(self, trials, **info):
            for t in trials:
                self.statuses.setdefault(t.trial_id, t.status)
                self.store.trials.setdefault(t.trial_id, {"config": dict(t.config), "epochs": 0,
                                                          "nonfinite": False})

        def get_state(self) -> dict | None:
            st = {"store": self.store.get_state(), "statuses": self.statuses, "errors": self.errors}
            if hasattr(self.scheduler, "get_state"):
                st["scheduler"] = self.scheduler.get_state()
            return st

        def set_state(self, state: dict) -> None:
            self.store.set_state(state["store"])
            self.statuses = {k: v for k, v in state["statuses"].items() if v in ("TERMINATED", "ERROR")}
            self.errors = dict(state["errors"])
            if "scheduler" in state and hasattr(self.scheduler, "set_state"):
                self.scheduler.set_state(state["scheduler"])
            _say(f"restored {len(self.store.trials)} trials, {len(self.store.rows)} reported epochs and the "
                 "scheduler state from the last snapshot")

    return HpoCallback()


def progress_line(trials, store: results.CurveStore, metric: str, elapsed: float) -> str:
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    parts = [f"{counts.get(s, 0)} {s.lower()}" for s in ("RUNNING", "PAUSED", "PENDING", "TERMINATED", "ERROR")
             if counts.get(s)]
    epochs = sum(t["epochs"] for t in store.trials.values())
    best = f"best {metric} {store.best[0]:.6g} ({store.best[1]})" if store.best else "no result yet"
    return f"{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d} | trials: {', '.join(parts) or 'none'} | " \
           f"epochs {epochs} | {best}"


def _connect(cfg: ExperimentConfig, object_store_memory: int | None) -> cluster.ClusterInfo:
    res = cfg.resources
    per_trial_cpus = res.workers_per_trial * res.cpus_per_worker
    local_cpus = res.num_cpus or cluster.detect_cpus()
    slots = res.max_concurrent or max(1, int(local_cpus // per_trial_cpus))
    return cluster.connect(cfg.address, num_cpus=res.num_cpus, slots=slots, dashboard_host=cfg.dashboard_host,
                           object_store_memory=object_store_memory)


def run_experiment(cfg: ExperimentConfig, *, train_fn: Callable[[dict], Any] | None = None,
                   instances: dict[str, Any] | None = None, object_store_memory: int | None = None,
                   verbose: bool = True) -> results.ExperimentResult:
    """Run ``cfg``; ``instances`` may hold ready-made ``scheduler``/``search``/``predictor`` objects."""
    path = results_dir(cfg)
    if path.exists():
        raise ConfigError(f"results directory {path} already exists; choose another --name "
                          "(or continue it with --resume)", "name", cfg.source)
    args = dict(cfg.trainable_args)
    if train_fn is None:
        mod, _ = registry.trainable_module(cfg.trainable)
        if hasattr(mod, "prepare"):
            args = mod.prepare(args) or args
    resolved = cfg.as_dict() | {"trainable": {"name": cfg.trainable, "args": args}}
    info = _connect(cfg, object_store_memory)
    try:
        path.mkdir(parents=True)
        (path / CONFIG_FILE).write_text(yaml.safe_dump(resolved, sort_keys=False))
        return _run(cfg, path, args, info, train_fn, instances or {}, verbose, resolved, restore=False)
    finally:
        cluster.disconnect(info)


def resume_experiment(results_path: str | os.PathLike, *, address: str | None = None,
                      num_cpus: int | None = None, object_store_memory: int | None = None,
                      verbose: bool = True) -> results.ExperimentResult:
    """Continue an experiment whose driver died: completed trials are kept, paused and running ones
    resume from their checkpoints, scheduler and searcher state come back from the last snapshot."""
    from . import config as config_mod

    path = Path(results_path).expanduser().resolve()
    if not (path / CONFIG_FILE).is_file():
        raise ConfigError(f"{path} is not an hpo results directory (no {CONFIG_FILE})", "resume")
    from ray.tune import Tuner

    if not Tuner.can_restore(str(path)):
        raise ConfigError(f"{path} holds no Ray Tune experiment state to resume from", "resume")
    data = config_mod.load_yaml(path / CONFIG_FILE)
    data["storage"], data["name"] = str(path.parent), path.name
    cfg = config_mod.from_dict(data, source=str(path / CONFIG_FILE))
    cfg = config_mod.apply_overrides(cfg, source=str(path / CONFIG_FILE), num_cpus=num_cpus)
    cfg.address = address
    if cfg.trainable == "hpo.trial:_callable":
        raise ConfigError("this experiment ran a Python callable: resume it from your script with "
                          "hpo.tune(..., resume=DIR)", "resume")
    info = _connect(cfg, object_store_memory)
    try:
        return _run(cfg, path, dict(cfg.trainable_args), info, None, {}, verbose, data, restore=True)
    finally:
        cluster.disconnect(info)


def _pausing(scheduler: Any) -> bool:
    """Conservative for foreign schedulers: only Ray's FIFO and ASHA are known never to PAUSE."""
    from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler

    if hasattr(scheduler, "uses_pause"):
        return bool(scheduler.uses_pause)
    return not (type(scheduler) is FIFOScheduler or isinstance(scheduler, AsyncHyperBandScheduler))


def _run(cfg, path, args, info, train_fn, instances, verbose, resolved, restore) -> results.ExperimentResult:
    from ray import tune
    from ray.tune.execution.placement_groups import PlacementGroupFactory

    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    t0 = time.monotonic()
    if info.dashboard_url:
        _say(f"Ray dashboard: {info.dashboard_url}")
    res = cfg.resources
    per_trial_cpus = res.workers_per_trial * res.cpus_per_worker
    max_concurrent = res.max_concurrent or max(1, int(info.num_cpus // per_trial_cpus))
    sname = cfg.scheduler.name if "scheduler" not in instances else type(instances["scheduler"]).__name__
    pausing = schedulers.uses_pause(sname, cfg.scheduler.options) if "scheduler" not in instances \
        else _pausing(instances["scheduler"])
    if pausing and not info.has_slots:
        log.warning("cluster has no '%s' resource: concurrency of the pausing scheduler %r is bounded by "
                    "CPUs only (start nodes with --resources '{\"%s\": N}' to cap it)", cluster.SLOT, sname,
                    cluster.SLOT)
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
        bundle["CPU"] = 0 if info.has_slots else 0.01
    if info.has_slots:
        bundle[cluster.SLOT] = 1
    trainable = tune.with_resources(fn, PlacementGroupFactory([bundle]))
    if restore:
        _say(f"resuming {path}")
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, resume_errored=True)
        internal = tuner._local_tuner  # the restored scheduler and callback (one pickle, shared references)
        scheduler = internal._tune_config.scheduler
        callback = next(c for c in internal._run_config.callbacks if hasattr(c, "store"))
        callback.path, callback.t0 = path, t0
        callback.guard.reset()
    else:
        tuner, scheduler, callback = _new_tuner(cfg, path, trainable, instances, pausing, max_concurrent)
    # Tune's ResultGrid re-reads per-trial files we do not use; after a restore it warns about
    # trials whose files were never synced.  Our results come from the callback's own records.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    tuner.fit()
    return _finish(cfg, path, callback, scheduler, resolved, verbose, t0)


def _new_tuner(cfg, path, trainable, instances, pausing, max_concurrent):
    from ray import tune

    sname = cfg.scheduler.name
    if "search" in instances:
        from .space import to_tune_space

        search_alg, forced = instances["search"], None
        # A searcher built with its own space must not get Tune's too (Ray refuses both).
        has_space = getattr(search_alg, "_space", None) or getattr(getattr(search_alg, "searcher", None),
                                                                  "_space", None)
        param_space = {} if has_space else to_tune_space(cfg.space)
    else:
        search_alg, param_space, forced = searchers.build(
            cfg.search.name, cfg.search.options, cfg.space, metric=cfg.metric, mode=cfg.mode, seed=cfg.seed,
            max_epochs=cfg.budget.max_epochs)
    num_samples = cfg.budget.num_samples
    planned = None if "scheduler" in instances else \
        schedulers.planned_num_samples(sname, cfg.scheduler.options, cfg.budget.max_epochs)
    if planned is not None and planned != num_samples:
        _say(f"scheduler {sname!r} plans {planned} trials for max_epochs={cfg.budget.max_epochs} "
             f"(budget.num_samples={num_samples} is not used)")
        num_samples = planned
    if forced is not None:
        num_samples = forced
        _say(f"grid search: {searchers.grid_size(cfg.space)} configurations")
    factory = _predictor_factory(cfg)
    if "predictor" in instances:
        from sklearn.base import clone

        proto = instances["predictor"]
        factory = lambda: clone(proto)  # noqa: E731
    scheduler = instances.get("scheduler") or schedulers.build_ray_scheduler(
        sname, metric=cfg.metric, mode=cfg.mode, options=cfg.scheduler.options,
        max_epochs=cfg.budget.max_epochs, seed=cfg.seed, predictor_factory=factory)
    guard = StallGuard()
    callback = _make_callback(results.CurveStore(cfg.metric, cfg.mode), path, cfg.metric, scheduler, guard)
    from .metrics import make_metrics_callback

    metrics_callback = make_metrics_callback(scheduler, metric=cfg.metric, mode=cfg.mode, experiment=cfg.name,
                                             max_epochs=cfg.budget.max_epochs)
    search_label = type(search_alg).__name__ if "search" in instances else cfg.search.name
    _say(f"experiment {cfg.name}: {num_samples} trials of {cfg.trainable!s} x {cfg.budget.max_epochs} epochs, "
         f"scheduler {type(scheduler).__name__ if 'scheduler' in instances else sname}, search {search_label}"
         + (f", predictor {cfg.predictor.name}" if cfg.predictor else "")
         + f", up to {max_concurrent} concurrent, results in {path}")
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=cfg.metric, mode=cfg.mode, num_samples=num_samples, search_alg=search_alg,
            scheduler=scheduler, max_concurrent_trials=None if pausing else max_concurrent,
            time_budget_s=cfg.budget.time_limit_s, reuse_actors=cfg.resources.workers_per_trial == 1),
        run_config=tune.RunConfig(
            name=cfg.name, storage_path=str(path.parent), callbacks=[callback, metrics_callback], verbose=0,
            stop=guard,
            failure_config=tune.FailureConfig(max_failures=2),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2)),
    )
    return tuner, scheduler, callback


def _finish(cfg, path, callback, scheduler, resolved, verbose, t0) -> results.ExperimentResult:
    space_keys = list(cfg.space)
    store = callback.store
    reasons = scheduler.stop_reasons() if hasattr(scheduler, "stop_reasons") else {}
    for tid in callback.guard.stalled:
        reasons.setdefault(tid, "stalled: paused, never resumed by the scheduler")
    limit = cfg.budget.time_limit_s
    trials = results.trials_table(store, space_keys=space_keys, max_epochs=cfg.budget.max_epochs,
                                  statuses=callback.statuses, errors=callback.errors, reasons=reasons,
                                  time_limited=limit is not None and time.monotonic() - callback.t0 >= limit - 1)
    best = results.pick_best(trials, cfg.metric, cfg.mode, cfg.budget.max_epochs)
    results.write(path, store, trials, resolved, best, space_keys)
    reporting.write_predictions(path, scheduler, mode=cfg.mode)  # Swift's predictor decisions
    wall = time.monotonic() - t0
    if verbose:
        summary(trials, best, cfg.metric, cfg.mode, space_keys, wall, path)
    core = getattr(scheduler, "core", None)
    for note in core.run_notes() if isinstance(core, Diagnostics) else []:
        log.warning("%s: %s", cfg.name, note)  # e.g. a configured predictor never decided
    if callback.guard.stalled:
        raise ExperimentStalled(f"{cfg.name}: {callback.guard.message()} ({path})")
    return results.ExperimentResult(
        str(path), cfg.metric, cfg.mode, best["trial_id"] if best is not None else None,
        {k: results._plain(best[k]) for k in space_keys} if best is not None else None,
        float(best[cfg.metric]) if best is not None else None, trials, store.curves())


def summary(trials, best, metric, mode, space_keys, wall, path) -> None:
    import pandas as pd

    counts = trials["status"].value_counts().to_dict() if not trials.empty else {}
    epochs = int(trials["epochs"].sum()) if not trials.empty else 0
    _say(f"done in {wall:.0f} s: {len(trials)} trials ({', '.join(f'{v} {k}' for k, v in counts.items())}), "
         f"{epochs} epochs")
    if not trials.empty:
        top = trials.sort_values(metric, ascending=mode == "min", na_position="last").head(5)
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(top[["trial_id", metric, "epochs", "status", "stop_reason"] + space_keys].to_string(index=False))
    if best is not None:
        _say(f"best {metric} = {best[metric]:.6g} (trial {best['trial_id']}, {int(best['epochs'])} epochs)")
        _say("best config: " + ", ".join(f"{k}={results._plain(best[k])!r}" for k in space_keys))
    else:
        _say("no trial reported a finite metric")
    _say(f"results: {path}")
    sys.stdout.flush()
