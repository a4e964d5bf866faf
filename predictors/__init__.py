"""Learning-curve predictors for Swift-Hyperband and friends: classical SVR, annealing Q-SVR, and
a single-curve parametric-family ensemble (cold start, no history needed).

Module API used by the service:

* ``available() -> list[str]``: ``["svr", "qsvr", "curve_families"]``;
* ``validate_options(name, options) -> dict``: normalised options (defaults filled in); unknown
  options, wrong types and bad ranges raise ``ConfigError(problem, key="predictor.<option>")``;
  ``sampler: qpu`` without dwave-system or without a D-Wave token is a ``ConfigError`` too;
  Q-SVR option ``preset``: ``smoothed`` (the defaults: running median over 5 epochs, 5 evenly
  spaced curve values + first differences) or ``published`` (the raw curve, as in Swift's
  QPredictor); explicit options win over the preset (``preset_options`` gives the full dict);
* ``build_predictor(name, options, seed=None)``: a fresh, unfitted scikit-learn estimator
  (``fit(X, y)``, ``predict(X)``, ``get_params``; ``get_state``/``set_state``), X = losses of
  epochs 1..e (n x e), y = loss at the target epoch.

References: Baker et al., arXiv:1705.10823 (SVR predictor); Pasetto et al., IEEE GRSL 19 (2022)
(Q-SVR); Wulff, Garcia Amboage et al., Quantum Machine Intelligence 6, 59 (2024) (its use in
Swift-Hyperband); Domhan, Springenberg, Hutter, IJCAI 2015 (curve families).
"""
from __future__ import annotations

from typing import Any, Mapping

from hpo.components import Spec
from hpo.errors import ConfigError

from .curve_families import CurveFamilyPredictor
from .options import check_options, preset_options
from .qsvr import QSVRPredictor
from .samplers import check_sampler
from .svr import SVRPredictor

__all__ = ["available", "validate_options", "build_predictor", "preset_options", "SVRPredictor",
           "QSVRPredictor", "CurveFamilyPredictor"]

_CLASSES = {"svr": SVRPredictor, "qsvr": QSVRPredictor, "curve_families": CurveFamilyPredictor}


def _check(name: str):
    return lambda options, ctx: validate_options(name, options)


def _build(name: str):
    return lambda options, ctx, seed: build_predictor(name, options, seed=seed)


SPECS: dict[str, Spec] = {
    "svr": Spec("predictor", "svr", "nu-SVR on MinMax-scaled partial curves", _check("svr"), _build("svr")),
    "qsvr": Spec("predictor", "qsvr", "epsilon-SVR dual as a QUBO, solved by (simulated) annealing",
                 _check("qsvr"), _build("qsvr")),
    "curve_families": Spec("predictor", "curve_families", "one curve extrapolated by an ensemble of parametric "
                           "families (Domhan et al. 2015)", _check("curve_families"), _build("curve_families")),
}


def available() -> list[str]:
    return list(SPECS)


def validate_options(name: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    if name not in _CLASSES:
        raise ConfigError(f"unknown predictor {name!r}; choose one of {', '.join(_CLASSES)}",
                          "predictor.name")
    options = dict(options or {})
    options.pop("name", None)
    normalised = check_options(name, options)
    if name == "qsvr":
        check_sampler(normalised["sampler"])   # qpu: extra installed and token configured?
    return normalised


def build_predictor(name: str, options: Mapping[str, Any] | None = None, seed: int | None = None):
    """A fresh unfitted estimator; ``seed`` fixes the random search / annealer / subsets."""
    return _CLASSES[name](**validate_options(name, options), random_state=seed)
