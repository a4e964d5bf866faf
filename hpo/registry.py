"""Names of pluggable components, the same in YAML and on the CLI.

Each family lives in its own package and exposes a small module-level API; the registry only
knows names and where they live, so validation can say "not built yet" instead of a traceback.

Trainable modules (``trainables.<name>`` or a user's ``module:function``) expose
``train(config) -> None`` and optionally ``validate_args(args) -> dict`` (checks fixed arguments,
raises ``ConfigError``) and ``prepare(args) -> dict`` (driver-side work before trials start, e.g.
generating the default sample into a cache).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConfigError

SCHEDULER_NAMES = ("fifo", "asha", "hyperband", "swift", "predictive")
SEARCHER_NAMES = ("random", "grid", "tpe", "hyperopt", "bohb")
PREDICTOR_NAMES = ("svr", "qsvr", "curve_families")
TRAINABLE_MODULES = {
    "replay": "trainables.replay",
    "mlpf": "trainables.mlpf",
    "ucluster": "trainables.ucluster",
}


def _import(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only "this module does not exist yet" means not built; a missing dependency inside
        # an existing module is a real error and must surface.
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            return None
        raise


def scheduler_api() -> ModuleType:
    from . import schedulers

    return schedulers


def predictor_api() -> ModuleType | None:
    return _import("predictors")


def check_scheduler(name: str) -> None:
    if name not in SCHEDULER_NAMES:
        raise ConfigError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULER_NAMES)}",
                          "scheduler.name")
    if name not in scheduler_api().available():
        raise ConfigError(f"scheduler {name!r} is not built yet", "scheduler.name")


def check_predictor(name: str) -> ModuleType:
    if name not in PREDICTOR_NAMES:
        raise ConfigError(f"unknown predictor {name!r}; choose one of {', '.join(PREDICTOR_NAMES)}",
                          "predictor.name")
    api = predictor_api()
    if api is None or name not in api.available():
        raise ConfigError(f"predictor {name!r} is not built yet", "predictor.name")
    return api


def trainable_module(name: str) -> tuple[ModuleType, str]:
    """Return (module, function name) for a registered name or ``module:function``."""
    if name in TRAINABLE_MODULES:
        mod = _import(TRAINABLE_MODULES[name])
        if mod is None or not hasattr(mod, "train"):
            raise ConfigError(f"trainable {name!r} is not built yet", "trainable.name")
        return mod, "train"
    if ":" not in name:
        raise ConfigError(f"unknown trainable {name!r}; use one of {', '.join(TRAINABLE_MODULES)} "
                          "or 'module:function'", "trainable.name")
    module, func = name.split(":", 1)
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's module's problem
        raise ConfigError(f"cannot import module {module!r}: {exc}", "trainable.name") from None
    if not callable(getattr(mod, func, None)):
        raise ConfigError(f"module {module!r} has no function {func!r}", "trainable.name")
    return mod, func
