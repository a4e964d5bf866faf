"""``hpo.tune(...)``: the library entry point, the same experiment as the CLI from Python.

    res = hpo.tune(train, space={"lr": hpo.loguniform(1e-4, 1e-1)}, metric="loss", mode="min",
                   num_samples=8, max_epochs=5, scheduler="asha", search="tpe", seed=0)
    res.best_config, res.best_metric, res.trials, res.curves

``space`` may also be a YAML file (then ``trainable`` may be omitted); the CLI's options are
keyword arguments; ``scheduler``/``search``/``predictor`` take names, ``{"name": ..., options}``
dicts, or ready-made instances (a Ray ``TrialScheduler``, a Ray ``Searcher``, a scikit-learn
style predictor).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

from . import config as config_mod
from . import preflight
from .errors import ConfigError
from .results import ExperimentResult
from .space import Distribution


def _is_instance(obj: Any) -> bool:
    return obj is not None and not isinstance(obj, (str, Mapping))


def tune(trainable: Callable[[dict], Any] | str | None = None, *, space: Mapping[str, Any] | str | Path,
         metric: str | None = None, mode: str | None = None, num_samples: int | None = None,
         max_epochs: int | None = None, scheduler: Any = None, search: Any = None, predictor: Any = None,
         seed: int | None = None, storage: str | os.PathLike | None = None, name: str | None = None,
         address: str | None = None, workers_per_trial: int | None = None, cpus_per_worker: float | None = None,
         gpus_per_worker: float | None = None, max_concurrent: int | None = None, num_cpus: int | None = None,
         time_limit_s: float | None = None, trainable_args: Mapping[str, Any] | None = None,
         tracking: list[str] | None = None,
         verbose: bool = True) -> ExperimentResult:
    instances = {k: v for k, v in (("scheduler", scheduler), ("search", search), ("predictor", predictor))
                 if _is_instance(v)}
    names = {k: (None if k in instances else v) for k, v in
             (("scheduler", scheduler), ("search", search), ("predictor", predictor))}
    train_fn = trainable if callable(trainable) else None
    if isinstance(space, (str, Path)):
        data = config_mod.load_yaml(config_mod.resolve_space_path(space))
        source, base = str(config_mod.resolve_space_path(space)), config_mod.resolve_space_path(space).parent
    else:
        data = {"hyperparameters": {k: v.as_dict() if isinstance(v, Distribution) else v for k, v in space.items()}}
        source, base = "<call>", None
    if trainable is not None:
        data["trainable"] = {"name": trainable if isinstance(trainable, str) else _callable_name(trainable),
                             "args": dict((data.get("trainable") or {}).get("args", {}) if isinstance(
                                 data.get("trainable"), Mapping) else {})}
    elif "trainable" not in data:
        raise ConfigError("a trainable is needed (a function, a registered name or module:function)",
                          "trainable", source)
    if trainable_args:
        tr = data["trainable"] if isinstance(data["trainable"], Mapping) else {"name": data["trainable"]}
        data["trainable"] = {**tr, "args": {**(tr.get("args") or {}), **trainable_args}}
    for key, value in (("metric", metric), ("mode", mode), ("tracking", tracking)):
        if value is not None:
            data[key] = value
    if "name" not in data and name is None:
        data["name"] = Path(source).stem if source != "<call>" else getattr(train_fn, "__name__", "experiment")
    if "scheduler" in instances:
        data.pop("scheduler", None)
    if "search" in instances:
        data.pop("search", None)
    if "predictor" in instances:
        data.pop("predictor", None)
    data = config_mod.merge_overrides(
        data, source=source, num_samples=num_samples, max_epochs=max_epochs, time_limit_s=time_limit_s,
        scheduler=names["scheduler"], search=names["search"], predictor=names["predictor"],
        workers_per_trial=workers_per_trial, cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker,
        max_concurrent=max_concurrent, num_cpus=num_cpus, name=name,
        storage=None if storage is None else str(storage), seed=seed)
    cfg = config_mod.from_dict(data, source=source, base=base)
    cfg.address = address
    if name is None:
        cfg.name = config_mod.fresh_name(cfg)
    preflight.check_environment(cfg, "<call>")
    from .service import run_experiment

    return run_experiment(cfg, train_fn=train_fn, instances=instances, verbose=verbose)


def _callable_name(fn: Callable) -> str:
    """``module:qualname`` when that resolves back to ``fn`` (shown in experiment.yaml), else a placeholder."""
    import sys

    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if mod in sys.modules and "." not in qual and getattr(sys.modules[mod], qual, None) is fn:
        return f"{mod}:{qual}"
    from .ray.trial import CALLABLE_PLACEHOLDER

    return CALLABLE_PLACEHOLDER


def resume(results_dir: str | os.PathLike, *, trainable: Callable[[dict], Any] | None = None,
           address: str | None = None, num_cpus: int | None = None, verbose: bool = True) -> ExperimentResult:
    """Continue an experiment whose driver stopped.

    ``trainable``: for an experiment whose training function was passed to ``hpo.tune`` as a
    Python function defined in your script (``__main__``), pass that same function from that same
    script: ``hpo.resume(DIR, trainable=train)``.  A registered name or ``module:function``
    comes back from the results directory by itself."""
    preflight.check_address(address, source="<call>")
    if trainable is not None and not callable(trainable):
        raise ConfigError(f"trainable must be the training function, got {type(trainable).__name__}",
                          "trainable", "<call>")
    from .service import resume_experiment

    return resume_experiment(results_dir, address=address, num_cpus=num_cpus, verbose=verbose, train_fn=trainable)
