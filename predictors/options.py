"""Option tables of the two predictors: names, types, ranges and defaults.

One table drives both the YAML/CLI validation (``predictors.validate_options`` raises
``ConfigError(problem, key="predictor.<option>")``) and the estimators' own parameter checks in
``fit`` (``ConfigError`` is a ``ValueError``, as scikit-learn expects).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from hpo.errors import ConfigError

from .features import SCALERS

Check = Callable[[Any], str | None]   # returns a problem description or None


def _int(lo: int | None = None, hi: int | None = None) -> Check:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return f"must be an integer, got {v!r}"
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return f"must be in [{lo}, {hi if hi is not None else 'inf'}], got {v}"
        return None
    return check


def _float(lo: float | None = None, hi: float | None = None, *, open_lo: bool = False) -> Check:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return f"must be a finite number, got {v!r}"
        if lo is not None and (v < lo or (open_lo and v == lo)):
            return f"must be {'>' if open_lo else '>='} {lo}, got {v}"
        if hi is not None and v > hi:
            return f"must be <= {hi}, got {v}"
        return None
    return check


def _choice(*values) -> Check:
    def check(v):
        return None if v in values else f"must be one of {', '.join(map(str, values))}, got {v!r}"
    return check


def _bool(v):
    return None if isinstance(v, bool) else f"must be true or false, got {v!r}"


def _gamma(v):
    if v in ("scale", "auto"):
        return None
    return _float(0.0, open_lo=True)(v)


def _beta_range(v):
    if v is None:
        return None
    if (not isinstance(v, (list, tuple)) or len(v) != 2
            or any(_float(0.0, open_lo=True)(b) for b in v) or not v[0] < v[1]):
        return f"must be null (sampler's default) or [hot, cold] with 0 < hot < cold, got {v!r}"
    return None


def _odd_int(v):
    problem = _int(1)(v)
    if problem:
        return problem
    return None if v % 2 == 1 else f"must be odd (a centred window), got {v}"


def _optional_int(v):
    return None if v is None else _int()(v)


FEATURE_OPTIONS: dict[str, tuple[Any, Check]] = {
    "n_hyperparameters": (0, _int(0)),
    "first_differences": (False, _bool),
    "second_differences": (False, _bool),
    "stride": (1, _int(1)),
    "median_window": (1, _odd_int),
    "curve_points": (0, _int(0)),
    "scaler": ("minmax", _choice(*SCALERS)),
}

SVR_OPTIONS: dict[str, tuple[Any, Check]] = {
    "kind": ("nu", _choice("nu", "epsilon")),
    "C": (1.0, _float(0.0, open_lo=True)),
    "nu": (0.5, _float(0.0, 1.0, open_lo=True)),
    "epsilon": (0.1, _float(0.0)),
    "gamma": ("scale", _gamma),
    "search": ("none", _choice("none", "random")),
    "n_search": (60, _int(1)),
    "cv": (3, _int(2)),
    "error": ("loo", _choice("loo", "cv", "none")),
    **FEATURE_OPTIONS,
}

COMBINE_SCHEMES = ("mean", "min_energy", "energy_softmax", "fit_inverse", "fit_softmax", "best_fit")

QSVR_OPTIONS: dict[str, tuple[Any, Check]] = {
    "num_bits": (3, _int(1, 10)),
    "base": (0.5, _float(0.0, open_lo=True)),
    "k0": (0.005, _float()),
    "epsilon": (0.02, _float(0.0)),
    "xi": (0.01, _float(0.0)),
    "gamma": (0.1, _float(0.0, open_lo=True)),
    "beta": (0.0, _float(0.0)),
    "max_points": (20, _int(2)),
    "large_n": ("ensemble", _choice("ensemble", "subsample")),
    "sampler": ("sa", _choice("sa", "exact", "qpu")),
    "num_reads": (50, _int(1)),
    "num_sweeps": (500, _int(1)),
    "beta_range": ((1.0, 1000.0), _beta_range),
    "num_solutions": (4, _int(1)),
    "combine": ("mean", _choice(*COMBINE_SCHEMES)),
    "bias": ("kkt", _choice("kkt", "mean_residual")),
    "center_y": (False, _bool),
    "ensemble_scaling": ("global", _choice("global", "member")),
    **FEATURE_OPTIONS,
}

# Q-SVR presets: the feature options each one sets (the QUBO values K=3, B=0.5, k0=0.005,
# eps=0.02, xi=0.01, gamma=0.1, 20 points per QUBO are the published ones in both).
#  * "published": the curve values as they are (Swift's QPredictor; S2's studies used stride 2);
#  * "smoothed" (default): running median over 5 epochs, 5 evenly spaced curve values anchored at
#    the last known epoch, plus their first differences, and the scaled target centred on its
#    training mean before the QUBO is built (center_y: the xi penalty that replaces the dual's
#    equality constraint shrinks the bias towards 0, so the bias should be near 0), and, for more
#    curves than max_points, ensemble members with their own scalers (ensemble_scaling: member).  Chosen on the MLPF table with the 10
#    benchmark splits AND 40 disjoint splits (seeds 100..139), at 2..50 known epochs; see
#    benchmarks/results/predictors.md.
QSVR_PRESETS: dict[str, dict[str, Any]] = {
    "published": {"first_differences": False, "median_window": 1, "curve_points": 0,
                  "center_y": False, "ensemble_scaling": "global"},
    "smoothed": {"first_differences": True, "median_window": 5, "curve_points": 5,
                 "center_y": True, "ensemble_scaling": "member"},
}
DEFAULT_QSVR_PRESET = "smoothed"
QSVR_OPTIONS.update({k: (v, QSVR_OPTIONS[k][1])
                     for k, v in QSVR_PRESETS[DEFAULT_QSVR_PRESET].items()})

QPU_MAX_VARIABLES = 120   # 2*K*N limit of the published QPU runs (dense clique embedding)

def _optional_epoch(v):
    return None if v is None else _int(2)(v)


def _optional_float(v):
    return None if v is None else _float()(v)


# Curve-family ensemble (cold start, no history): see predictors/curve_families.py
CURVE_FAMILY_OPTIONS: dict[str, tuple[Any, Check]] = {
    "target_epoch": (None, _optional_epoch),
    "max_gain": (1.0, _float(0.0, open_lo=True)),
    "rel_noise": (0.005, _float(0.0)),
    "robust": (True, _bool),
    "lower_bound": (None, _optional_float),
}

TABLES = {"svr": SVR_OPTIONS, "qsvr": QSVR_OPTIONS, "curve_families": CURVE_FAMILY_OPTIONS}


def defaults(name: str) -> dict[str, Any]:
    return {k: d for k, (d, _) in TABLES[name].items()}


def preset_options(name: str, preset: str) -> dict[str, Any]:
    """Full option dict of a Q-SVR preset, e.g. ``QSVRPredictor(**preset_options("qsvr",
    "published"))``."""
    return check_options(name, {"preset": preset})


def check_options(name: str, options: Mapping[str, Any], prefix: str = "predictor") -> dict:
    """Normalised full option dict (defaults filled in); ConfigError on the first bad option.

    ``preset`` (Q-SVR only: ``smoothed`` = the defaults, or ``published``) replaces the defaults
    of the options it names; options given explicitly win over the preset.  The result holds the
    resolved values, not the preset name.
    """
    table = TABLES[name]
    out = defaults(name)
    options = dict(options)
    if "preset" in options:
        preset = options.pop("preset")
        if name != "qsvr" or preset not in QSVR_PRESETS:
            choices = ", ".join(QSVR_PRESETS) if name == "qsvr" else "none for this predictor"
            raise ConfigError(f"unknown preset {preset!r}; choose one of {choices}",
                              f"{prefix}.preset")
        out.update(QSVR_PRESETS[preset])
    for key, value in options.items():
        if key not in table:
            raise ConfigError(f"unknown option {key!r} for predictor {name!r}; known: "
                              f"{', '.join(sorted(table))}", f"{prefix}.{key}")
        problem = table[key][1](value)
        if problem:
            raise ConfigError(problem, f"{prefix}.{key}")
        out[key] = tuple(value) if key == "beta_range" and value is not None else value
    if out.get("curve_points", 0) > 0 and out.get("stride", 1) != 1:
        raise ConfigError("curve_points > 0 chooses the stride itself (max(1, epochs // "
                          "curve_points)); set curve_points: 0 to use stride", f"{prefix}.stride")
    if name == "qsvr" and out["sampler"] == "qpu":
        size = 2 * out["num_bits"] * out["max_points"]
        if size > QPU_MAX_VARIABLES:
            raise ConfigError(f"sampler 'qpu' supports at most {QPU_MAX_VARIABLES} binary variables "
                              f"per QUBO; 2*num_bits*max_points = {size}", f"{prefix}.max_points")
    return out
