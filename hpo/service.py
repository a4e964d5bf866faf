"""Run one experiment: the service behind ``python -m hpo.run`` and ``hpo.tune``.

Order of work: everything that can fail on user input is checked before Ray starts (the config is
already validated); the trainable's ``prepare`` hook runs on the driver; the resolved experiment is
written to ``STORAGE/NAME/experiment.yaml``; then :mod:`hpo.ray.tuner` starts (or joins) Ray and
runs the trials; at the end the trials table, curves, best trial and predictor decisions are
written here, from the run's one curve record and the scheduler's typed stop reasons.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from . import registry, reporting, results
from .atomic import atomic_write
from .config import ExperimentConfig
from .errors import ConfigError, ExperimentStalled
from .progress import say
from .protocols import Objective, Outcome, StopReason
from .ray.trial import CALLABLE_PLACEHOLDER  # experiment.yaml's trainable for a Python callable (no Ray import)

CONFIG_FILE = "experiment.yaml"


def results_dir(cfg: ExperimentConfig) -> Path:
    return Path(cfg.storage).expanduser().resolve() / cfg.name


def run_experiment(cfg: ExperimentConfig, *, train_fn: Callable[[dict], Any] | None = None,
                   instances: dict[str, Any] | None = None, object_store_memory: int | None = None,
                   verbose: bool = True) -> results.ExperimentResult:
    """Run ``cfg``; ``instances`` may hold ready-made ``scheduler``/``search``/``predictor`` objects."""
    from .ray import tuner

    path = results_dir(cfg)
    if path.exists():
        raise ConfigError(f"results directory {path} already exists; choose another --name "
                          "(or continue it with --resume)", "name", cfg.source)
    if cfg.address is None:  # local Ray: a GPU run on a machine without GPUs stops before data is generated
        try:
            tuner.cluster.check_gpus(cfg.resources.gpus_per_worker, cfg.resources.workers_per_trial,
                                     tuner.cluster.detect_gpus())
        except ConfigError as exc:
            raise exc.with_source(cfg.source) from None
    args = dict(cfg.trainable_args)
    if train_fn is None:
        mod, _ = registry.trainable_module(cfg.trainable)
        prepare = getattr(mod, "prepare", None)  # an optional hook of the trainable's module
        if prepare is not None:
            args = prepare(args) or args
    resolved = cfg.as_dict() | {"trainable": {"name": cfg.trainable, "args": args}}
    for role, obj in (instances or {}).items():  # record an instance faithfully, not the default it replaced
        resolved[role] = {"name": "instance", "class": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    info = tuner.connect(cfg, object_store_memory)
    try:
        path.mkdir(parents=True)
        atomic_write(path / CONFIG_FILE, yaml.safe_dump(resolved, sort_keys=False))
        record = tuner.run(cfg, path, args, info, train_fn, instances or {}, restore=False)
        return _finish(cfg, path, record, resolved, verbose)
    finally:
        tuner.cluster.disconnect(info)


def resume_experiment(results_path: str | os.PathLike, *, address: str | None = None,
                      num_cpus: int | None = None, object_store_memory: int | None = None,
                      verbose: bool = True, train_fn: Callable[[dict], Any] | None = None) -> results.ExperimentResult:
    """Continue an experiment whose driver died: completed trials are kept, paused and running ones
    resume from their checkpoints, scheduler and searcher state come back from the last snapshot.
    ``train_fn``: the training function of an experiment that ran a Python callable (one defined
    in the user's script, ``__main__``), which only that script can give back."""
    from . import config as config_mod
    from .ray import tuner

    path = Path(results_path).expanduser().resolve()
    if not (path / CONFIG_FILE).is_file():
        raise ConfigError(f"{path} is not an hpo results directory (no {CONFIG_FILE})", "resume")
    from .ray import snapshot

    before = snapshot.read_state(path)  # our own record: the resumed run must keep all of it
    data = config_mod.load_yaml(path / CONFIG_FILE)
    # Tune's snapshot torn or missing: continue from our record in a new Tune run (hpo.ray.fallback),
    # or, without a record of any trial, refuse before Ray starts
    torn = snapshot.tune_snapshot_problem(path)
    instance = [r for r in ("scheduler", "search", "predictor")  # instances only Tune's snapshot held
                if isinstance(data.get(r), dict) and data[r].get("name") == "instance"]
    if torn is not None and (not snapshot.has_trials(before) or instance):
        snapshot.check_restorable(path)  # raises the refusal
    if torn is None and not tuner.can_restore(path):
        raise ConfigError(f"{path} holds no Ray Tune experiment state to resume from", "resume")
    data["storage"], data["name"] = str(path.parent), path.name
    for role in ("scheduler", "search", "predictor"):
        if isinstance(data.get(role), dict) and data[role].get("name") == "instance":
            data.pop(role)  # the instance itself comes back from Tune's snapshot
    trainable = data.get("trainable")
    trainable = str(trainable.get("name", "")) if isinstance(trainable, dict) else str(trainable or "")
    if trainable == CALLABLE_PLACEHOLDER or trainable.startswith("__main__:"):
        if train_fn is None:
            fn = trainable.split(":", 1)[1] if trainable.startswith("__main__:") else "train"
            raise ConfigError(f"this experiment ran a function defined in a script ({trainable}); resume it "
                              f"from that script with hpo.resume({str(path)!r}, trainable={fn})", "resume")
    checked = dict(data)
    if train_fn is not None:  # the script's function runs; its recorded name is not imported
        checked["trainable"] = {**(data["trainable"] if isinstance(data["trainable"], dict) else {}),
                                "name": CALLABLE_PLACEHOLDER}
    cfg = config_mod.from_dict(checked, source=str(path / CONFIG_FILE))
    cfg = config_mod.apply_overrides(cfg, source=str(path / CONFIG_FILE), num_cpus=num_cpus)
    cfg.address = address
    if torn is not None:
        from .ray import fallback

        aside = fallback.set_aside(path)
        say(f"resume: Tune's snapshot is unusable ({torn}); falling back to our last complete record, "
            f"{snapshot.STATE_FILE}" + (f"; Tune's snapshot files moved to {aside}" if aside else ""))
    info = tuner.connect(cfg, object_store_memory)
    try:
        record = tuner.run(cfg, path, dict(cfg.trainable_args), info, train_fn, {}, restore=torn is None,
                           record=before if torn is not None else None)
        return _finish(cfg, path, record, data, verbose, before=before)
    finally:
        tuner.cluster.disconnect(info)


def _finish(cfg: ExperimentConfig, path: Path, record, resolved: dict, verbose: bool,
            before: dict | None = None) -> results.ExperimentResult:
    space_keys = list(cfg.space)
    store = record.store
    reasons = dict(record.reasons)
    for tid in record.stalled:
        reasons.setdefault(tid, StopReason(Outcome.STALLED, detail="paused, never resumed by the scheduler"))
    limit = cfg.budget.time_limit_s
    trials = results.trials_table(store, space_keys=space_keys, max_epochs=cfg.budget.max_epochs,
                                  statuses=record.statuses, errors=record.errors, reasons=reasons,
                                  time_limited=limit is not None and time.monotonic() - record.t0 >= limit - 1)
    best = results.pick_best(trials, cfg.metric, cfg.mode, cfg.budget.max_epochs)
    results.check_keeps(trials, before)
    from .ray.snapshot import kill_point

    from . import disk_errors

    try:
        kill_point("finish", path / "trials.parquet")  # tests: a crash (or a full disk) before the results are written
        results.write(path, store, trials, resolved, best, space_keys)
    except OSError as exc:
        if exc.errno not in disk_errors.DISK_ERRNOS:
            raise
        raise disk_errors.stopped(exc, path) from exc
    diagnostics = record.scheduler.diagnostics()
    if diagnostics is not None:
        reporting.write_predictions(path, diagnostics.decision_log(), mode=cfg.mode)
    wall = time.monotonic() - record.t0
    if verbose:
        summary(trials, best, cfg.metric, cfg.mode, space_keys, wall, path)
        from .physics_report import physics_lines, physics_summary

        for line in physics_lines(physics_summary(store.curves(), cfg.metric, cfg.mode)):
            say(line)  # MLPF jet/MET response and accuracy, UCluster clustering, beside their baselines
        for note in diagnostics.run_notes() if diagnostics is not None else []:
            say(note)
    if record.stalled:
        raise ExperimentStalled(f"{cfg.name}: {record.stall_message} ({path})")
    return results.ExperimentResult(
        str(path), cfg.metric, cfg.mode, best["trial_id"] if best is not None else None,
        {k: results._plain(best[k]) for k in space_keys} if best is not None else None,
        float(best[cfg.metric]) if best is not None else None, trials, store.curves())


def _sort_loss(objective: Objective):
    def loss(v):
        try:
            return objective.loss(float(v))
        except (TypeError, ValueError):  # a trial that never reported a value sorts last
            return float("inf")
    return loss


def failure_lines(trials) -> list[str]:
    """One line per distinct failure reason (not per trial): a wrong metric key in the training
    script fails every trial the same way, and reads as one line."""
    failed = trials[trials["outcome"] == Outcome.FAILED.value]
    groups: dict[str, list[str]] = {}
    for _, row in failed.iterrows():
        why = str(row["stop_reason"]).split(" (log: ", 1)[0]
        groups.setdefault(why, []).append(str(row["trial_id"]))
    lines = []
    for why, ids in groups.items():
        who = f"trial {ids[0]}" if len(ids) == 1 else \
            f"{len(ids)} trials ({', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''})"
        lines.append(f"{who} failed: {why}")
    return lines


def summary(trials, best, metric, mode, space_keys, wall, path) -> None:
    import pandas as pd

    counts = trials["outcome"].value_counts().to_dict() if not trials.empty else {}
    epochs = int(trials["epochs"].sum()) if not trials.empty else 0
    words = ", ".join(f"{v} {Outcome(k).label}" for k, v in counts.items())
    say(f"done in {wall:.0f} s: {len(trials)} trials ({words}), {epochs} epochs")
    if not trials.empty:
        for line in failure_lines(trials):
            say(line)
        scored = trials[trials[metric].notna()]  # failed trials are summed up above, not listed
        top = scored.sort_values(metric, key=lambda v: v.map(_sort_loss(Objective(metric, mode)))).head(5)
        if not top.empty:
            with pd.option_context("display.width", 160, "display.max_columns", 20):
                print(top[["trial_id", metric, "epochs", "outcome", "stop_reason"] + space_keys].to_string(index=False))
    if best is not None:
        say(f"best {metric} = {best[metric]:.6g} (trial {best['trial_id']}, {int(best['epochs'])} epochs)")
        say("best config: " + ", ".join(f"{k}={results._plain(best[k])!r}" for k in space_keys))
    else:
        say("no trial reported a finite metric")
    say(f"results: {path}")
    sys.stdout.flush()
