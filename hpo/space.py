"""Hyperparameter distributions, as written in YAML or built with ``hpo.loguniform(...)`` etc.

Each distribution validates itself; :mod:`hpo.ray.space` converts them to Ray Tune domains.  ``int`` ranges are inclusive at both ends.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError


@dataclass(frozen=True)
class Distribution:
    type: str = field(init=False, default="")

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "type" and v is not None}
        return {"type": self.type, **d}

    def grid_values(self) -> list | None:
        """Finite set of values, or None for continuous distributions."""
        return None


# Sanity bounds, far beyond any real hyperparameter.  Near the float limit a range's width overflows:
# uniform(-1e308, 1e308) has high - low = inf, and Ray's sampler fails only after Ray has started.
# Integers pass through float64 in Optuna and HyperOpt, which is exact only up to 2**53 (and
# numpy's int64 sampling fails beyond 2**63, e.g. on ``high: 1e308``).
MAX_FLOAT = 1e100
MAX_INT = 2**53


def _num(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{name} must be a finite number, got {v!r}", name)
    if abs(v) > MAX_FLOAT:
        raise ConfigError(f"{name} must be within +-{MAX_FLOAT:g}, got {v!r}", name)
    return float(v)


def _int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if not (isinstance(v, float) and v.is_integer()):
            raise ConfigError(f"{name} must be an integer, got {v!r}", name)
        v = int(v)
    if abs(v) > MAX_INT:
        raise ConfigError(f"{name} must be within +-2**53 ({MAX_INT}), got {v!r}", name)
    return v


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float
    q: float | None = None
    log: bool = False

    def __post_init__(self):
        object.__setattr__(self, "low", _num(self.low, "low"))
        object.__setattr__(self, "high", _num(self.high, "high"))
        if self.low >= self.high:
            raise ConfigError(f"low ({self.low:g}) must be below high ({self.high:g})", "low")
        if self.log and self.low <= 0:
            raise ConfigError(f"low must be > 0 for a log scale, got {self.low:g}", "low")
        if self.q is not None:
            object.__setattr__(self, "q", _num(self.q, "q"))
            if self.q <= 0:
                raise ConfigError(f"q must be > 0, got {self.q:g}", "q")
            if self.q > self.high - self.low:
                raise ConfigError(f"q ({self.q:g}) is larger than the range", "q")
        object.__setattr__(self, "type", ("q" if self.q else "") + ("loguniform" if self.log else "uniform"))

    def as_dict(self):
        d = {"type": self.type, "low": self.low, "high": self.high}
        if self.q:
            d["q"] = self.q
        return d



@dataclass(frozen=True)
class IntRange(Distribution):
    low: int
    high: int
    log: bool = False

    def __post_init__(self):
        object.__setattr__(self, "low", _int(self.low, "low"))
        object.__setattr__(self, "high", _int(self.high, "high"))
        if self.low >= self.high:
            raise ConfigError(f"low ({self.low}) must be below high ({self.high})", "low")
        if self.log and self.low <= 0:
            raise ConfigError(f"low must be > 0 for a log scale, got {self.low}", "low")
        object.__setattr__(self, "type", "int")

    def as_dict(self):
        d = {"type": "int", "low": self.low, "high": self.high}
        if self.log:
            d["log"] = True
        return d

    def grid_values(self):
        return list(range(self.low, self.high + 1))



@dataclass(frozen=True)
class Choice(Distribution):
    values: tuple
    grid: bool = False

    def __post_init__(self):
        if not isinstance(self.values, (list, tuple)) or not self.values:
            raise ConfigError("values must be a non-empty list", "values")
        for v in self.values:
            if not isinstance(v, (str, int, float, bool)) and v is not None:
                raise ConfigError(f"values must be numbers, strings or booleans, got {v!r}", "values")
        if len({repr(v) for v in self.values}) != len(self.values):
            raise ConfigError("values contain duplicates", "values")
        object.__setattr__(self, "values", tuple(self.values))
        object.__setattr__(self, "type", "grid" if self.grid else "choice")

    def as_dict(self):
        return {"type": self.type, "values": list(self.values)}

    def grid_values(self):
        return list(self.values)



# Public constructors (library use): hpo.uniform(0, 1), hpo.choice([32, 64]) ...
def uniform(low, high): return Uniform(low, high)
def loguniform(low, high): return Uniform(low, high, log=True)
def quniform(low, high, q): return Uniform(low, high, q=q)
def qloguniform(low, high, q): return Uniform(low, high, q=q, log=True)
def randint(low, high, log=False): return IntRange(low, high, log)  # inclusive high
def choice(values): return Choice(tuple(values))
def grid(values): return Choice(tuple(values), grid=True)


_KEYS = {
    "uniform": ({"low", "high"}, set()),
    "loguniform": ({"low", "high"}, set()),
    "quniform": ({"low", "high", "q"}, set()),
    "qloguniform": ({"low", "high", "q"}, set()),
    "int": ({"low", "high"}, {"log"}),
    "choice": ({"values"}, set()),
    "grid": ({"values"}, set()),
}


def parse_distribution(spec: Any) -> Distribution:
    """Parse one YAML entry (``{type: loguniform, low: .., high: ..}``); keys in errors are relative."""
    if isinstance(spec, Distribution):
        return spec
    if not isinstance(spec, Mapping):
        raise ConfigError(f"must be a mapping with a 'type', got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in _KEYS:
        raise ConfigError(f"unknown distribution {kind!r}; choose one of {', '.join(_KEYS)}", "type")
    required, optional = _KEYS[kind]
    given = set(spec) - {"type"}
    if missing := sorted(required - given):
        raise ConfigError(f"distribution {kind!r} needs {', '.join(missing)}", missing[0])
    if extra := sorted(given - required - optional):
        raise ConfigError(f"unknown key {extra[0]!r} for distribution {kind!r}", extra[0])
    if kind in ("choice", "grid"):
        return Choice(spec["values"], grid=kind == "grid")
    if kind == "int":
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"log must be true or false, got {log!r}", "log")
        return IntRange(spec["low"], spec["high"], log)
    return Uniform(spec["low"], spec["high"], q=spec.get("q"), log=kind.endswith("loguniform"))


def parse_space(spec: Any) -> dict[str, Distribution]:
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError("must be a non-empty mapping of name -> distribution", "hyperparameters")
    out = {}
    for name, entry in spec.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"hyperparameter names must be identifiers, got {name!r}", "hyperparameters")
        try:
            out[name] = parse_distribution(entry)
        except ConfigError as exc:
            raise exc.under(f"hyperparameters.{name}") from None
    return out
