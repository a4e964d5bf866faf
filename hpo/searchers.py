"""Searchers: random, grid, Optuna TPE, Hyperopt TPE (through Ray's adapters) and BOHB (ours).

``validate`` runs before Ray starts and says when a searcher cannot handle a distribution;
:func:`hpo.ray.searcher.build` makes the Tune search algorithm.
Every searcher is seeded: the same seed gives the same sequence of suggestions for the same
sequence of results.
"""
from __future__ import annotations

import importlib
import math
from typing import Any, Mapping

from .errors import ConfigError
from .registry import SEARCHER_NAMES
from .space import Choice, Distribution

MAX_GRID = 10_000
_OPTIONS = {
    "random": {},
    "grid": {},
    "tpe": {"n_startup_trials": int, "multivariate": bool},
    "hyperopt": {"n_initial_points": int},
}


def _bohb():
    try:
        return importlib.import_module("hpo.bohb")
    except ModuleNotFoundError as exc:
        if exc.name in ("hpo.bohb",):
            return None
        raise


def available() -> list[str]:
    return [n for n in SEARCHER_NAMES if n != "bohb" or _bohb() is not None]


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
    if name not in SEARCHER_NAMES:
        raise ConfigError(f"unknown searcher {name!r}; choose one of {', '.join(SEARCHER_NAMES)}", "search.name")
    if name == "bohb":
        mod = _bohb()
        if mod is None:
            raise ConfigError("searcher 'bohb' is not built yet", "search.name")
        return mod.validate_options(dict(options), space, max_epochs)
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
