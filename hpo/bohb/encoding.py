"""Map hyperparameter values to the unit cube the BOHB kernel density estimates work in.

Continuous, integer and quantised distributions become one coordinate in [0, 1] (on a log
scale where the distribution is log); a ``choice`` becomes a category index.  Integer and
quantised values are recovered by rounding, as in BOHB (Falkner, Klein & Hutter, "BOHB: Robust
and Efficient Hyperparameter Optimization at Scale", ICML 2018, section 4).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError
from ..space import Choice, Distribution, IntRange, Uniform


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter.  ``categories`` is 0 for a coordinate in [0, 1], else the choice count."""

    name: str
    dist: Distribution

    @property
    def categories(self) -> int:
        return len(self.dist.values) if isinstance(self.dist, Choice) else 0

    # -- the scale the unit coordinate lives on -------------------------------------------------
    def _bounds(self) -> tuple[float, float, bool]:
        d = self.dist
        if isinstance(d, IntRange):  # each integer owns a bin of width 1 around itself
            lo, hi = d.low - 0.5, d.high + 0.5
        else:
            lo, hi = d.low, d.high
        return (math.log(lo), math.log(hi), True) if d.log else (lo, hi, False)

    def encode(self, value: Any) -> float:
        """Unit coordinate (or category index, as a float) of ``value``; ValueError if not allowed."""
        d = self.dist
        if isinstance(d, Choice):
            for i, v in enumerate(d.values):
                if type(v) is type(value) and v == value or (v is None and value is None):
                    return float(i)
            for i, v in enumerate(d.values):  # 64 == 64.0 when types differ (e.g. read back from JSON)
                if not isinstance(v, bool) and not isinstance(value, bool) and v == value:
                    return float(i)
            raise ValueError(f"{self.name}={value!r} is not one of {list(d.values)}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{self.name}={value!r} is not a number")
        x = float(value)
        if not math.isfinite(x) or (d.log and x <= 0):
            raise ValueError(f"{self.name}={value!r} is outside the distribution")
        lo, hi, log = self._bounds()
        t = math.log(x) if log else x
        return min(1.0, max(0.0, (t - lo) / (hi - lo)))

    def decode(self, u: float) -> Any:
        """The allowed value at unit coordinate ``u`` (category index for a choice)."""
        d = self.dist
        if isinstance(d, Choice):
            return d.values[int(round(u))]
        lo, hi, log = self._bounds()
        t = lo + min(1.0, max(0.0, float(u))) * (hi - lo)
        x = math.exp(t) if log else t
        if isinstance(d, IntRange):
            return int(min(d.high, max(d.low, round(x))))
        if d.q:
            k_min, k_max = math.ceil(d.low / d.q - 1e-9), math.floor(d.high / d.q + 1e-9)
            k = min(k_max, max(k_min, round(x / d.q)))
            return float(round(k * d.q, 12))
        return float(min(d.high, max(d.low, x)))

    def snap(self, u: float) -> float:
        """The coordinate of the value ``u`` decodes to (so candidates are scored where they land)."""
        if self.categories:
            return float(int(round(u)))
        if isinstance(self.dist, Uniform) and not self.dist.q:
            return min(1.0, max(0.0, float(u)))
        return self.encode(self.decode(u))


def dimensions(space: Mapping[str, Distribution], where: str = "hyperparameters") -> list[Dimension]:
    """Validate that BOHB can model every distribution; raise ConfigError("...", "<where>.<name>")."""
    dims = []
    for name, dist in space.items():
        if isinstance(dist, Choice) and dist.grid:
            raise ConfigError("searcher 'bohb' cannot handle distribution 'grid' (an exhaustive list); "
                              "use 'choice'", f"{where}.{name}")
        if not isinstance(dist, (Uniform, IntRange, Choice)):
            raise ConfigError(f"searcher 'bohb' cannot handle distribution {dist.type!r}", f"{where}.{name}")
        dims.append(Dimension(name, dist))
    if not dims:
        raise ConfigError("searcher 'bohb' needs at least one hyperparameter", where)
    return dims


class Encoder:
    """Converts whole configurations to and from rows of the unit-cube matrix."""

    def __init__(self, space: Mapping[str, Distribution]):
        self.dims = dimensions(space)
        self.categories = np.array([d.categories for d in self.dims], dtype=int)

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        missing = [d.name for d in self.dims if d.name not in config]
        if missing:
            raise ValueError(f"configuration lacks {', '.join(missing)}")
        return np.array([d.encode(config[d.name]) for d in self.dims], dtype=float)

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        return {d.name: d.decode(u) for d, u in zip(self.dims, row)}

    def snap(self, row: np.ndarray) -> np.ndarray:
        return np.array([d.snap(u) for d, u in zip(self.dims, row)], dtype=float)

    def random_row(self, rng: np.random.Generator) -> np.ndarray:
        row = rng.random(len(self.dims))
        cat = self.categories > 0
        row[cat] = np.floor(row[cat] * self.categories[cat])
        return self.snap(row)
