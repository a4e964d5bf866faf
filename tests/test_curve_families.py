"""Single-curve extrapolation by the parametric-family ensemble (predictors/curve_families.py)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import predictors
from hpo.errors import ConfigError
from hpo.protocols import ProbabilisticPredictor
from predictors.curve_families import CurveFamilyPredictor, extrapolate

X = np.arange(1, 101, dtype=float)
TRUE = {  # curves with a known asymptote (the loss at epoch 100 is within 1 % of it or given)
    "pow3": 2.0 + 3.0 * X ** -0.7,
    "exp": 1.0 + 4.0 * np.exp(-X / 15),
    "mmf": 0.5 + 3.0 / (1 + (X / 8) ** 1.5),
}


@pytest.mark.parametrize("name", list(TRUE))
def test_noise_free_curves_extrapolate_towards_the_final_loss(name):
    # the shapes are a fixed grid: a curve between grid points is matched only approximately, so
    # the bound is 10 % of the curve's drop (and the std is often too small: the scheduler
    # calibrates it online, see hpo/schedulers/predictive.py)
    c = TRUE[name]
    drop = c[0] - c[-1]
    for n in (30, 50):
        mean, std = extrapolate(c[:n], 100)
        assert abs(mean - c[-1]) < 0.1 * drop
        assert abs(mean - c[-1]) < abs(c[n - 1] - c[-1])  # better than "the last value stays"
        assert 0 < std < 0.2 * drop


def test_errors_shrink_with_more_epochs():
    errs = {n: np.mean([abs(extrapolate(c[:n], 100)[0] - c[-1]) for c in TRUE.values()])
            for n in (5, 10, 50)}
    assert errs[50] < errs[10] < errs[5]


def test_noise_and_spikes_are_tolerated():
    rng = np.random.default_rng(0)
    c = TRUE["pow3"] + 0.02 * rng.standard_normal(100)
    c[[12, 25]] += 1.0  # loss spikes
    mean, std = extrapolate(c[:40], 100)
    assert abs(mean - TRUE["pow3"][-1]) < 0.1
    assert 0.01 < std < 0.5


def test_short_curves():
    assert extrapolate([3.0], 50) == (3.0, math.inf)  # one point: nothing to extrapolate
    mean, std = extrapolate([3.0, 2.0], 50)  # two: exact fits, the shapes' average and spread
    assert 1.0 <= mean < 2.0 and std > 0.1  # asymptote bound: last - 1 * drop
    mean3, std3 = extrapolate([3.0, 2.0, 1.7], 50)
    assert 0.7 <= mean3 < 1.7 and math.isfinite(std3)
    assert extrapolate([3.0, 2.0, 1.0], 2) == (2.0, 0.0)  # target already observed
    assert extrapolate([3.0, float("inf")], 10)[0] == math.inf
    rising = extrapolate([1.0, 1.1, 1.2, 1.3, 1.4, 1.5], 50)[0]
    assert 1.0 <= rising <= 1.5  # monotone families: a rising curve is fitted flat


def test_lower_bound_and_affine_equivariance():
    c = TRUE["exp"][:8]
    m1, s1 = extrapolate(c, 100)
    m2, s2 = extrapolate(10 * c - 7, 100)
    assert m2 == pytest.approx(10 * m1 - 7, rel=1e-6) and s2 == pytest.approx(10 * s1, rel=1e-6)
    assert extrapolate(c, 100, lower_bound=c[-1] - 0.01)[0] >= c[-1] - 0.01 - 1e-12


def test_predictor_api_learns_the_horizon_and_round_trips():
    rng = np.random.default_rng(1)
    a, c, alpha = rng.uniform(1, 3, 40), rng.uniform(0, 1, 40), rng.uniform(0.3, 1.0, 40)
    curves = c[:, None] + a[:, None] * X[None, :40] ** -alpha[:, None]
    p = predictors.build_predictor("curve_families", {})
    assert isinstance(p, ProbabilisticPredictor)
    with pytest.raises(ValueError):
        p.predict(curves[:3, :10])  # no target epoch and not fitted
    p.fit(curves[:, :10], curves[:, 39])
    assert 28 <= p.target_ <= 57  # the horizon nearest to epoch 40 on the e * 2**(k/2) grid
    mean, std = p.predict_dist(curves[:, :10])
    assert np.median(np.abs(mean - curves[:, 39])) < 0.1 and (std > 0).all()
    q = CurveFamilyPredictor()
    q.set_state(json.loads(json.dumps(p.get_state())))
    assert np.allclose(q.predict(curves[:5, :10]), p.predict(curves[:5, :10]))
    assert ((p.probability_below(curves[:, :10], 10.0)) > 0.99).all()


def test_options_are_validated():
    assert predictors.validate_options("curve_families", {"target_epoch": 50})["max_gain"] == 1.0
    with pytest.raises(ConfigError) as e:
        predictors.validate_options("curve_families", {"target_epoch": 1})
    assert e.value.key == "predictor.target_epoch"
