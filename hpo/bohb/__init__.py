"""BOHB-style Bayesian optimisation (Falkner, Klein & Hutter, ICML 2018): our own implementation.

The module-level API that :mod:`hpo.searchers` calls:

* ``validate_options(options, space, max_epochs) -> dict``: checks ``search.*`` options and the
  space before Ray starts (``ConfigError`` with key ``search.<option>`` or
  ``hyperparameters.<name>``);
* ``build_searcher(*, space, options, metric, mode, seed, max_epochs)``: a Ray Tune ``Searcher``.

:class:`BOHBCore` (no Ray) is exported for the replay simulator and unit tests.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from ..errors import ConfigError
from ..space import Distribution
from .core import DEFAULTS, BOHBCore
from .encoding import dimensions

__all__ = ["BOHBCore", "BOHBSearcher", "OPTIONS", "validate_options", "build_searcher"]

# option -> (kind, low, high, low inclusive, description)
OPTIONS: dict[str, tuple[str, float, float, bool, str]] = {
    "min_points_in_model": ("int", 1, math.inf, True, "a positive integer"),
    "top_n_percent": ("number", 0, 100, False, "a number between 0 and 100 (exclusive)"),
    "num_samples": ("int", 1, math.inf, True, "a positive integer"),
    "random_fraction": ("number", 0, 1, True, "a number between 0 and 1"),
    "bandwidth_factor": ("number", 0, math.inf, False, "a positive number"),
    "min_bandwidth": ("number", 0, math.inf, False, "a positive number"),
    "adaptive_bandwidth": ("bool", 0, 0, True, "true or false"),
}


def _check(name: str, value: Any) -> Any:
    kind, low, high, low_inclusive, want = OPTIONS[name]
    if name == "min_points_in_model" and value is None:
        return None  # the default: number of hyperparameters + 1
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"must be {want}, got {value!r}", f"search.{name}")
        return value
    bad_type = isinstance(value, bool) or not isinstance(value, (int, float)) or \
        (kind == "int" and not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())))
    if bad_type or not math.isfinite(value):
        raise ConfigError(f"must be {want}, got {value!r}", f"search.{name}")
    above_low = value >= low if low_inclusive else value > low
    below_high = value <= high if name == "random_fraction" else value < high
    if not (above_low and below_high):
        raise ConfigError(f"must be {want}, got {value!r}", f"search.{name}")
    return int(value) if kind == "int" else float(value)


def validate_options(options: Mapping[str, Any], space: Mapping[str, Distribution],
                     max_epochs: int) -> dict[str, Any]:
    """Checked options with defaults filled in; raise ConfigError on the first problem."""
    if not isinstance(options, Mapping):
        raise ConfigError("search options must be a mapping", "search")
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name not in OPTIONS:
            raise ConfigError(f"searcher 'bohb' does not take option {name!r} (it takes "
                              f"{', '.join(OPTIONS)})", f"search.{name}")
        out[name] = _check(name, value)
    dimensions(space)  # ConfigError for grid / unsupported distributions
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise ConfigError(f"must be a positive integer, got {max_epochs!r}", "budget.max_epochs")
    return {**DEFAULTS, **out}


def build_searcher(*, space: Mapping[str, Distribution], options: Mapping[str, Any], seed: int | None,
                   max_epochs: int):
    """An ``hpo.protocols.Searcher`` whose budgets are the trials' epoch counts (1..max_epochs)."""
    from .searcher import BOHBSearcher

    checked = validate_options(options, space, max_epochs)
    return BOHBSearcher(space, seed, **checked)


def __getattr__(name: str):
    if name == "BOHBSearcher":
        from .searcher import BOHBSearcher

        return BOHBSearcher
    raise AttributeError(f"module 'hpo.bohb' has no attribute {name!r}")
