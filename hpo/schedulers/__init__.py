"""Scheduler family: pure-Python cores plus thin Ray Tune adapters.

Module API used by the service (validation happens before Ray starts):

* ``available() -> list[str]`` — names that are built;
* ``validate_options(name, options, max_epochs) -> dict`` — normalised options, raises
  ``ConfigError(problem, key="scheduler.<option>")``;
* ``uses_pause(name, options=None) -> bool`` — whether trials get PAUSEd (then trials must
  checkpoint and concurrency must be capped by resources, not by ``max_concurrent_trials``);
  Hyperband and Swift always pause, ASHA only with ``variant: promote``;
* ``needs_predictor(name) -> bool``;
* ``planned_num_samples(name, options, max_epochs) -> int | None`` — trial count the algorithm
  itself fixes (Hyperband's bracket sizes), or None;
* ``build_core(name, *, options, max_epochs, seed, predictor_factory) -> SchedulerCore``;
* ``build_ray_scheduler(name, *, metric, mode, options, max_epochs, seed, predictor_factory)``
  ``-> ray.tune.schedulers.TrialScheduler`` (imports Ray lazily).  Its ``stop_reasons()``,
  ``get_state()`` and ``set_state()`` serve the trials table and ``--resume``.
"""
from __future__ import annotations

from typing import Any, Callable

from hpo.errors import ConfigError

from .brackets import hyperband_trials
from .options import validate as _validate

_BUILT = ("fifo", "asha", "hyperband", "swift", "predictive")


def available() -> list[str]:
    return list(_BUILT)


def validate_options(name: str, options: dict[str, Any], max_epochs: int) -> dict[str, Any]:
    return _validate(name, options, max_epochs)


def uses_pause(name: str, options: dict[str, Any] | None = None) -> bool:
    if name in ("hyperband", "swift"):
        return True
    return name == "asha" and (options or {}).get("variant") == "promote"


def needs_predictor(name: str) -> bool:
    return name == "swift"


def planned_num_samples(name: str, options: dict[str, Any], max_epochs: int) -> int | None:
    if name in ("hyperband", "swift"):
        opts = _validate(name, options, max_epochs)
        return hyperband_trials(max_epochs, opts["eta"])
    return None


def build_core(name: str, *, options: dict, max_epochs: int, seed: int | None = None,
               predictor_factory: Callable[[], Any] | None = None):
    """The pure-Python core (``seed`` is accepted for symmetry; the cores are deterministic)."""
    opts = _validate(name, options, max_epochs)
    if name == "asha":
        from .asha import ASHACore

        return ASHACore(max_epochs, grace_period=opts["grace_period"], eta=opts["reduction_factor"],
                        variant=opts["variant"])
    if name == "hyperband":
        from .hyperband import HyperbandCore

        return HyperbandCore(max_epochs, eta=opts["eta"])
    if name == "swift":
        if predictor_factory is None:
            raise ConfigError("scheduler 'swift' needs a predictor (add a 'predictor:' section)", "predictor")
        from .swift import SwiftHyperbandCore

        return SwiftHyperbandCore(max_epochs, predictor_factory, **opts)
    if name == "predictive":
        from .predictive import PredictiveCore

        return PredictiveCore(max_epochs, **opts)
    raise ConfigError(f"scheduler {name!r} has no pure-Python core", "scheduler.name")


def build_ray_scheduler(name: str, *, metric: str, mode: str, options: dict, max_epochs: int,
                        seed: int | None, predictor_factory: Callable[[], Any] | None = None):
    if name == "fifo":
        validate_options(name, options, max_epochs)
        from ray.tune.schedulers import FIFOScheduler

        return FIFOScheduler()
    core = build_core(name, options=options, max_epochs=max_epochs, seed=seed,
                      predictor_factory=predictor_factory)
    from .ray_adapter import CoreTrialScheduler

    return CoreTrialScheduler(core, metric=metric, mode=mode)
