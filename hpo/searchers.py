"""Searchers: random, grid, Optuna TPE, Hyperopt TPE (through Ray's adapters) and BOHB (ours).

``SPECS`` (see :mod:`hpo.components`) names each searcher with its options check, which runs
before Ray starts and says when a searcher cannot handle a distribution.  BOHB is ours (an
``hpo.protocols.Searcher``, built here); the others are Tune's, built by :mod:`hpo.ray.searcher`.
Every searcher is seeded: the same seed gives the same sequence of suggestions for the same
sequence of results.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from .components import Context, Spec
from .errors import ConfigError
from .space import Choice, Distribution

MAX_GRID = 10_000
_OPTIONS = {
    "random": {},
    "grid": {},
    "tpe": {"n_startup_trials": int, "multivariate": bool},
    "hyperopt": {"n_initial_points": int},
}


def _check_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    allowed = _OPTIONS[name]
    for k, v in options.items():
        if k not in allowed:
            takes = ", ".join(allowed) or "no options"
            raise ConfigError(f"searcher {name!r} does not take option {k!r} (it takes {takes})", f"search.{k}")
        typ = allowed[k]
        if (typ is int and (isinstance(v, bool) or not isinstance(v, int) or v < 1)) or \
                (typ is bool and not isinstance(v, bool)):
            want = "a positive integer" if typ is int else "true or false"
            raise ConfigError(f"must be {want}, got {v!r}", f"search.{k}")
    return dict(options)


def validate(name: str, options: Mapping[str, Any], space: Mapping[str, Distribution],
             max_epochs: int) -> dict[str, Any]:
    """The options of searcher ``name`` checked against the space (shorthand over ``SPECS``)."""
    from .components import spec

    return spec("search", name).check(options, Context(max_epochs, space))


def _tune_native(name: str):
    return lambda options, ctx: _check_native(name, options, ctx.space)


def _check_native(name: str, options: Mapping[str, Any], space: Mapping[str, Distribution]) -> dict[str, Any]:
    options = _check_options(name, options)
    if name == "grid":
        size = 1
        for key, dist in space.items():
            values = dist.grid_values()
            if values is None:
                raise ConfigError(f"searcher 'grid' cannot handle distribution {dist.type!r}; "
                                  "use choice, grid or int", f"hyperparameters.{key}")
            size *= len(values)
        if size > MAX_GRID:
            raise ConfigError(f"the grid has {size} points (more than {MAX_GRID})", "hyperparameters")
    if name in ("tpe", "hyperopt"):
        for key, dist in space.items():
            if isinstance(dist, Choice) and dist.grid:
                raise ConfigError(f"searcher {name!r} cannot handle distribution 'grid'; use 'choice'",
                                  f"hyperparameters.{key}")
        _convert(name, space)
    return options


def _convert(name: str, space: Mapping[str, Distribution]):
    from .ray.searcher import convert_space

    try:
        return convert_space(name, space)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"searcher {name!r} cannot handle this space: {exc}", "hyperparameters") from None


def grid_size(space: Mapping[str, Distribution]) -> int:
    return math.prod(len(d.grid_values()) for d in space.values())


def _check_bohb(options: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    from .bohb import validate_options

    return validate_options(dict(options), ctx.space, ctx.max_epochs)


def _build_bohb(options: Mapping[str, Any], ctx: Context, seed: int | None):
    from .bohb import build_searcher

    return build_searcher(space=ctx.space, options=options, seed=seed, max_epochs=ctx.max_epochs)


SPECS: dict[str, Spec] = {s.name: s for s in (
    Spec("search", "random", "random search (Tune's variant generator)", _tune_native("random")),
    Spec("search", "grid", "every point of a finite grid", _tune_native("grid")),
    Spec("search", "tpe", "Optuna's TPE sampler (Bergstra et al. 2011)", _tune_native("tpe")),
    Spec("search", "hyperopt", "HyperOpt's TPE", _tune_native("hyperopt")),
    Spec("search", "bohb", "BOHB's KDE sampler, budgets = epochs (Falkner et al. 2018)", _check_bohb, _build_bohb),
)}
