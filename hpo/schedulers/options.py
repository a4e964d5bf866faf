"""Validation of ``scheduler:`` options (before Ray starts); errors name the offending key."""
from __future__ import annotations

from typing import Any

from hpo.errors import ConfigError

from .asha import VARIANTS
from .predictive import DEFAULTS as PREDICTIVE

# option -> (kind, default); kind: "int", "float", "bool" or a tuple of allowed strings
OPTIONS: dict[str, dict[str, tuple[Any, Any]]] = {
    "fifo": {},
    "asha": {"grace_period": ("int", 1), "reduction_factor": ("int", 2), "eta": ("int", None),
             "variant": (VARIANTS, "stop")},
    "hyperband": {"eta": ("int", 2)},
    "swift": {"eta": ("int", 2), "d": ("int", 15), "k": ("float", 0.5), "kc": ("float", 0.5),
              "q": ("float", 0.25), "refit": ("bool", False)},
    # defaults: leave-one-table-out choice (benchmarks/results/predictive_defaults.md)
    "predictive": {k: ("float" if isinstance(v, float) else "int", v) for k, v in PREDICTIVE.items()},
}


def _typed(name: str, key: str, kind: Any, value: Any) -> Any:
    where = f"scheduler.{key}"
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}", where)
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}", where)
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}", where)
        return value
    if value not in kind:
        raise ConfigError(f"{key} must be one of {', '.join(kind)}, got {value!r}", where)
    return value


def _check(ok: bool, key: str, problem: str) -> None:
    if not ok:
        raise ConfigError(problem, f"scheduler.{key}")


def validate(name: str, options: dict[str, Any] | None, max_epochs: int) -> dict[str, Any]:
    options = dict(options or {})
    options.pop("name", None)
    spec = OPTIONS[name]
    unknown = sorted(set(options) - set(spec))
    if unknown:
        allowed = ", ".join(sorted(spec)) or "none"
        raise ConfigError(f"unknown option {unknown[0]!r} for scheduler {name!r} (allowed: {allowed})",
                          f"scheduler.{unknown[0]}")
    out = {k: _typed(name, k, spec[k][0], v) for k, v in options.items()}
    if name == "asha":
        if "eta" in out and "reduction_factor" in out:
            raise ConfigError("give reduction_factor or its alias eta, not both", "scheduler.eta")
        out["reduction_factor"] = out.pop("eta", out.get("reduction_factor", 2))
        out.setdefault("grace_period", 1)
        out.setdefault("variant", "stop")
        _check(out["reduction_factor"] >= 2, "reduction_factor", "reduction_factor must be >= 2")
        _check(1 <= out["grace_period"] <= max_epochs, "grace_period",
               f"grace_period must be between 1 and max_epochs ({max_epochs})")
        return out
    for k, (_, default) in spec.items():
        out.setdefault(k, default)
    if "eta" in out:
        _check(out["eta"] >= 2, "eta", "eta must be >= 2")
        _check(out["eta"] <= max_epochs, "eta", f"eta must be <= max_epochs ({max_epochs})")
    if name == "predictive":
        _check(out["k"] >= 1, "k", "k (the top-k a trial must be able to join) must be >= 1")
        _check(0.0 <= out["threshold"] < 1.0, "threshold", "threshold must be in [0, 1)")
        _check(out["min_pairs"] >= 3, "min_pairs", "min_pairs must be >= 3")
        _check(out["min_calib"] >= 1, "min_calib", "min_calib must be >= 1")
        _check(0.0 <= out["min_coverage"] <= 1.0, "min_coverage", "min_coverage must be in [0, 1]")
    if name == "swift":
        _check(out["d"] >= 2, "d", "d (curves needed before a predictor is fitted) must be >= 2")
        _check(0.0 <= out["k"] <= 1.0, "k", "k must be in [0, 1]")
        _check(0.0 < out["kc"] <= 1.0, "kc", "kc must be in (0, 1]")
        _check(0.0 <= out["q"] <= 1.0, "q", "q must be in [0, 1]")
    return out
