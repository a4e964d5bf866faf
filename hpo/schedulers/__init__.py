"""Scheduler family: pure-Python cores (no Ray import).

``SPECS`` (see :mod:`hpo.components`) names every scheduler with its options check, its core
builder and its traits: whether trials get PAUSEd (then trials must checkpoint and concurrency is
capped by resources, not by ``max_concurrent_trials``; Hyperband and Swift always pause, ASHA only
with ``variant: promote``), whether it needs a predictor, and the trial count the algorithm fixes
(Hyperband's bracket sizes).  ``build_core``, ``validate_options``, ``uses_pause`` and
``planned_num_samples`` are
shorthands over the specs.

The Ray Tune side is :mod:`hpo.ray.scheduler` (``build_ray_scheduler``, ``CoreTrialScheduler``).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from hpo.components import Context, Spec
from hpo.errors import ConfigError

from .brackets import hyperband_trials
from .options import validate as _validate


def _check(name: str):
    return lambda options, ctx: _validate(name, dict(options), ctx.max_epochs)


def _asha(opts: Mapping[str, Any], ctx: Context, seed, predictor_factory):
    from .asha import ASHACore

    return ASHACore(ctx.max_epochs, grace_period=opts["grace_period"], eta=opts["reduction_factor"],
                    variant=opts["variant"])


def _hyperband(opts: Mapping[str, Any], ctx: Context, seed, predictor_factory):
    from .hyperband import HyperbandCore

    return HyperbandCore(ctx.max_epochs, eta=opts["eta"])


def _swift(opts: Mapping[str, Any], ctx: Context, seed, predictor_factory):
    if predictor_factory is None:
        raise ConfigError("scheduler 'swift' needs a predictor (add a 'predictor:' section)", "predictor")
    from .swift import SwiftHyperbandCore

    return SwiftHyperbandCore(ctx.max_epochs, predictor_factory, **opts)


def _predictive(opts: Mapping[str, Any], ctx: Context, seed, predictor_factory):
    from .predictive import PredictiveCore

    return PredictiveCore(ctx.max_epochs, **opts)


def _bracket_trials(options: Mapping[str, Any], max_epochs: int) -> int:
    return hyperband_trials(max_epochs, options["eta"])


SPECS: dict[str, Spec] = {s.name: s for s in (
    Spec("scheduler", "fifo", "every trial to max_epochs (Tune's FIFO)", _check("fifo")),
    Spec("scheduler", "asha", "asynchronous successive halving (Li et al. 2020)", _check("asha"), _asha,
         pauses=lambda o: o.get("variant") == "promote"),
    Spec("scheduler", "hyperband", "Hyperband over successive-halving brackets (Li et al. 2018)",
         _check("hyperband"), _hyperband, pauses=lambda o: True, planned_trials=_bracket_trials),
    Spec("scheduler", "swift", "Swift-Hyperband: Hyperband with a learning-curve predictor per round",
         _check("swift"), _swift, pauses=lambda o: True, needs_predictor=True, planned_trials=_bracket_trials),
    Spec("scheduler", "predictive", "asynchronous successive halving with promotions ranked and vetoed by "
         "calibrated learning-curve predictions, ASHA's rank rule until the predictor earns trust",
         _check("predictive"), _predictive, pauses=lambda o: True),
)}


def _spec(name: str) -> Spec:
    from hpo.components import spec

    return spec("scheduler", name)


def validate_options(name: str, options: Mapping[str, Any] | None, max_epochs: int) -> dict[str, Any]:
    return _spec(name).check(options, Context(max_epochs))


def uses_pause(name: str, options: Mapping[str, Any] | None = None) -> bool:
    return _spec(name).pauses(options or {})


def planned_num_samples(name: str, options: Mapping[str, Any], max_epochs: int) -> int | None:
    spec = _spec(name)
    return spec.planned_trials(spec.check(options, Context(max_epochs)), max_epochs)


def build_core(name: str, *, options: Mapping[str, Any], max_epochs: int, seed: int | None = None,
               predictor_factory: Callable[[], Any] | None = None):
    """The pure-Python core (``seed`` is accepted for symmetry; the cores are deterministic)."""
    spec = _spec(name)
    if spec.build is None:
        raise ConfigError(f"scheduler {name!r} has no pure-Python core", "scheduler.name")
    ctx = Context(max_epochs)
    return spec.build(spec.check(options, ctx), ctx, seed, predictor_factory)
