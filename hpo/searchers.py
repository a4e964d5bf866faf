"""Searchers: random, grid, Optuna TPE, Hyperopt TPE (through Ray's adapters) and BOHB (ours).

``validate`` runs before Ray starts and says when a searcher cannot handle a distribution;
``build`` returns ``(search_alg, param_space, num_samples_override)`` for ``ray.tune.Tuner``.
Every searcher is seeded: the same seed gives the same sequence of suggestions for the same
sequence of results.
"""
from __future__ import annotations

import importlib
import math
from typing import Any, Mapping

from .errors import ConfigError
from .registry import SEARCHER_NAMES
from .space import Choice, Distribution, to_tune_space

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
    tune_space = to_tune_space(space)
    try:
        if name == "tpe":
            from ray.tune.search.optuna import OptunaSearch

            return OptunaSearch.convert_search_space(tune_space)
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch.convert_search_space(tune_space)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"searcher {name!r} cannot handle this space: {exc}", "hyperparameters") from None


def grid_size(space: Mapping[str, Distribution]) -> int:
    return math.prod(len(d.grid_values()) for d in space.values())


def build(name: str, options: Mapping[str, Any], space: Mapping[str, Distribution], *, metric: str,
          mode: str, seed: int | None, max_epochs: int) -> tuple[Any, dict[str, Any], int | None]:
    """Return (search_alg or None, Tune param_space, num_samples override or None)."""
    tune_space = to_tune_space(space)
    if name == "random":
        from ray.tune.search import BasicVariantGenerator

        return BasicVariantGenerator(random_state=seed), tune_space, None
    if name == "grid":
        from ray import tune
        from ray.tune.search import BasicVariantGenerator

        grid_space = {k: tune.grid_search(d.grid_values()) for k, d in space.items()}
        return BasicVariantGenerator(random_state=seed), grid_space, 1
    if name == "tpe":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=options.get("n_startup_trials", 10),
                                             multivariate=options.get("multivariate", False))
        return OptunaSearch(space=_convert("tpe", space), metric=metric, mode=mode, sampler=sampler), {}, None
    if name == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        return (HyperOptSearch(space=_convert("hyperopt", space), metric=metric, mode=mode,
                               random_state_seed=seed, n_initial_points=options.get("n_initial_points", 20)),
                {}, None)
    if name == "bohb":
        mod = _bohb()
        return mod.build_searcher(space=space, options=dict(options), metric=metric, mode=mode, seed=seed,
                                  max_epochs=max_epochs), {}, None
    raise ConfigError(f"unknown searcher {name!r}", "search.name")
