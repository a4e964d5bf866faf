"""Module API of ``predictors``: option validation, the QPU error path, building estimators."""
from __future__ import annotations

import pytest

import predictors
from hpo.errors import ConfigError
from predictors import samplers
from predictors.qsvr import QSVRPredictor


def test_available_and_defaults():
    assert predictors.available() == ["svr", "qsvr", "curve_families"]
    svr = predictors.validate_options("svr", {})
    assert (svr["kind"], svr["C"], svr["nu"], svr["gamma"], svr["scaler"]) == \
        ("nu", 1.0, 0.5, "scale", "minmax")              # NuSVR defaults + MinMax, as in Swift
    q = predictors.validate_options("qsvr", {"name": "qsvr"})
    assert (q["num_bits"], q["base"], q["k0"], q["epsilon"], q["xi"], q["gamma"],
            q["max_points"]) == (3, 0.5, 0.005, 0.02, 0.01, 0.1, 20)   # published values
    assert q["num_reads"] > 1 and q["sampler"] == "sa"


@pytest.mark.parametrize("name, options, key", [
    ("svr", {"Cee": 1.0}, "predictor.Cee"),
    ("svr", {"C": -1.0}, "predictor.C"),
    ("svr", {"nu": 1.5}, "predictor.nu"),
    ("svr", {"kind": "linear"}, "predictor.kind"),
    ("svr", {"first_differences": "yes"}, "predictor.first_differences"),
    ("qsvr", {"num_reads": 10.5}, "predictor.num_reads"),
    ("qsvr", {"num_bits": True}, "predictor.num_bits"),
    ("qsvr", {"beta_range": [10, 1]}, "predictor.beta_range"),
    ("qsvr", {"combine": "vote"}, "predictor.combine"),
    ("qsvr", {"scaler": "robust"}, "predictor.scaler"),
    ("qsvr", {"sampler": "neal"}, "predictor.sampler"),
])
def test_bad_options_name_their_key(name, options, key):
    with pytest.raises(ConfigError) as err:
        predictors.validate_options(name, options)
    assert err.value.key == key


def test_qpu_without_dwave_system_is_a_config_error(monkeypatch):
    monkeypatch.setenv("DWAVE_API_TOKEN", "not-a-real-token")   # a token alone is not enough
    monkeypatch.setattr(samplers, "_module_available", lambda name: False)
    with pytest.raises(ConfigError, match="dwave-system") as err:
        predictors.validate_options("qsvr", {"sampler": "qpu"})
    assert err.value.key == "predictor.sampler"


def test_qpu_without_token_is_a_config_error(monkeypatch):
    monkeypatch.delenv("DWAVE_API_TOKEN", raising=False)
    problem = samplers.qpu_problem(module_available=lambda name: True, token=lambda: None)
    assert problem and "DWAVE_API_TOKEN" in problem
    assert samplers.qpu_problem(module_available=lambda name: True, token=lambda: "t") is None


def test_token_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DWAVE_API_TOKEN", "abc")
    assert samplers._configured_token() == "abc"


def test_asking_for_the_qpu_never_falls_back_to_simulated_annealing(monkeypatch):
    import numpy as np
    monkeypatch.setattr(samplers, "_module_available", lambda name: False)
    est = QSVRPredictor(sampler="qpu", num_reads=5, num_sweeps=10)
    with pytest.raises(ConfigError, match="qpu"):
        est.fit(np.random.rand(6, 3), np.random.rand(6))
    assert not hasattr(est, "members_")


def test_presets_smoothed_default_published_explicit():
    smoothed = predictors.validate_options("qsvr", {})
    assert (smoothed["median_window"], smoothed["curve_points"], smoothed["first_differences"],
            smoothed["center_y"], smoothed["stride"]) == (5, 5, True, True, 1)
    assert predictors.validate_options("qsvr", {"preset": "smoothed"}) == smoothed
    published = predictors.validate_options("qsvr", {"preset": "published"})
    assert (published["median_window"], published["curve_points"], published["first_differences"],
            published["center_y"]) == (1, 0, False, False)
    assert {k: v for k, v in published.items() if k not in predictors.options.QSVR_PRESETS["published"]} \
        == {k: v for k, v in smoothed.items() if k not in predictors.options.QSVR_PRESETS["smoothed"]}
    mixed = predictors.validate_options("qsvr", {"preset": "published", "stride": 2, "center_y": True})
    assert mixed["stride"] == 2 and mixed["center_y"] and mixed["median_window"] == 1
    assert predictors.preset_options("qsvr", "published") == published
    est = predictors.build_predictor("qsvr", {"preset": "published"})
    assert est.median_window == 1 and est.center_y is False
    assert predictors.validate_options("svr", {})["median_window"] == 1   # SVR: Swift's reference


@pytest.mark.parametrize("name, options, key", [
    ("qsvr", {"preset": "fast"}, "predictor.preset"),
    ("svr", {"preset": "published"}, "predictor.preset"),
    ("qsvr", {"median_window": 4}, "predictor.median_window"),
    ("qsvr", {"curve_points": -1}, "predictor.curve_points"),
    ("qsvr", {"stride": 2}, "predictor.stride"),                 # curve_points 5 sets the stride
    ("qsvr", {"center_y": 1}, "predictor.center_y"),
])
def test_bad_new_options_name_their_key(name, options, key):
    with pytest.raises(ConfigError) as err:
        predictors.validate_options(name, options)
    assert err.value.key == key


def test_qpu_size_limit():
    with pytest.raises(ConfigError) as err:
        predictors.options.check_options("qsvr", {"sampler": "qpu", "max_points": 40})
    assert err.value.key == "predictor.max_points"


def test_build_predictor_gives_fresh_seeded_estimators():
    a = predictors.build_predictor("qsvr", {"num_reads": 7}, seed=5)
    b = predictors.build_predictor("qsvr", {"num_reads": 7}, seed=5)
    assert a is not b and a.get_params() == b.get_params()
    assert a.random_state == 5 and a.num_reads == 7
    assert isinstance(predictors.build_predictor("svr", None), predictors.SVRPredictor)
