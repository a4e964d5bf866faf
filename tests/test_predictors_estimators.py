"""SVR and Q-SVR estimators: scikit-learn API, shapes, features, bias fallback, ensemble, state."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.model_selection import LeaveOneOut, cross_val_predict, cross_val_score
from sklearn.svm import NuSVR

from hpo.datasets import learning_curve_table
from predictors import QSVRPredictor, SVRPredictor, preset_options
from predictors.features import curve_features, running_median
from predictors.qsvr import combination_weights, kkt_bias

FAST = dict(num_reads=20, num_sweeps=200)
TABLE = learning_curve_table("mlpf_delphes")


def synthetic_curves(n, epochs=8, seed=0):
    """Exponentially decaying curves (one decay rate); the target is the loss at epoch 30 (noise-free)."""
    rng = np.random.default_rng(seed)
    a, k, c = rng.uniform(1, 2, n), np.full(n, 0.2), rng.uniform(0.2, 0.6, n)
    t = np.arange(1, epochs + 1)
    X = c[:, None] + a[:, None] * np.exp(-k[:, None] * t)
    y = c + a * np.exp(-k * 30)
    return X, y


@pytest.mark.parametrize("est", [SVRPredictor(), QSVRPredictor(**FAST)])
def test_sklearn_api_basics(est):
    params = est.get_params()
    twin = clone(est)
    assert twin.get_params() == params and twin is not est
    X, y = synthetic_curves(18)
    assert est.fit(X, y) is est
    assert est.predict(X).shape == (18,) and est.predict(X[0]).shape == (1,)
    with pytest.raises(ValueError):
        est.predict(X[:, :5])                     # wrong number of epochs
    assert not hasattr(clone(est), "n_features_in_")
    scores = cross_val_score(clone(est).set_params(random_state=0), X, y, cv=3)
    assert scores.shape == (3,)


@pytest.mark.parametrize("est", [SVRPredictor(), QSVRPredictor(**FAST, random_state=1)])
def test_learns_held_out_curves(est):
    X, y = synthetic_curves(60, seed=1)
    est.fit(X[:20], y[:20])
    assert r2_score(y[20:], est.predict(X[20:])) > 0.6


def test_invalid_parameter_is_a_value_error_at_fit():
    with pytest.raises(ValueError, match="nu"):
        SVRPredictor(nu=2.0).fit(*synthetic_curves(10))


def test_feature_options():
    X = np.array([[0.5, 7.0, 6.0, 4.0, 3.5, 3.0]])              # 1 hyperparameter + 5 epochs
    F = curve_features(X, n_hyperparameters=1, first_differences=True, second_differences=True)
    np.testing.assert_allclose(F[0], [7, 6, 4, 3.5, 3, -1, -2, -0.5, -0.5, -1, 1.5, 0, 0.5])
    F2 = curve_features(X, n_hyperparameters=1, stride=2)
    np.testing.assert_allclose(F2[0], [7, 4, 3, 0.5])            # anchored at the last epoch
    Xc, y = synthetic_curves(20)
    hp = np.random.default_rng(0).random((20, 2))
    est = SVRPredictor(n_hyperparameters=2, first_differences=True).fit(np.hstack([hp, Xc]), y)
    assert est.svr_.support_vectors_.shape[1] == 8 + 7 + 2


def test_running_median_and_curve_points():
    curve = np.array([[9.0, 8.0, 30.0, 6.0, 5.0, 4.0]])            # one spike at epoch 3
    np.testing.assert_allclose(running_median(curve, 3)[0], [9, 9, 8, 6, 5, 4])
    np.testing.assert_allclose(running_median(curve, 1), curve)
    with pytest.raises(ValueError, match="odd"):
        running_median(curve, 4)
    F = curve_features(curve, median_window=3, curve_points=2)   # stride 6 // 2 = 3
    np.testing.assert_allclose(F[0], [8, 4])                     # epochs 3 and 6, spike gone
    F = curve_features(curve, curve_points=2, first_differences=True)
    np.testing.assert_allclose(F[0], [30, 4, -26])
    assert curve_features(curve[:, :2], curve_points=5, first_differences=True,
                          median_window=5).shape == (1, 3)       # short curve: stride 1
    with pytest.raises(ValueError, match="curve_points"):
        curve_features(curve, curve_points=2, stride=2)
    est = SVRPredictor(median_window=3, curve_points=3, first_differences=True).fit(
        *synthetic_curves(20))
    assert est.svr_.support_vectors_.shape[1] == 4 + 3           # 8 epochs, stride 2: 8,6,4,2


def test_center_y_takes_the_scaled_mean_out_of_the_qubo():
    X, y = synthetic_curves(16, seed=5)
    est = QSVRPredictor(**FAST, random_state=0).fit(X, y)          # default preset: center_y
    sy = (y - y.min()) / (y.max() - y.min())
    assert est.center_y and est.y_offset_ == pytest.approx(sy.mean())
    F = est._transform(X)
    raw = est._member_predict(est.members_[0], F)
    np.testing.assert_allclose(est.predict(X), est._inverse_y(raw + est.y_offset_))
    off = QSVRPredictor(**FAST, center_y=False, random_state=0).fit(X, y)
    assert off.y_offset_ == 0.0


def test_svr_defaults_match_scaled_nusvr_and_sigma_is_loo_rmse():
    X, y = synthetic_curves(16, seed=3)
    est = SVRPredictor().fit(X, y)
    sx = (X - X.min(0)) / (X.max(0) - X.min(0))
    sy = (y - y.min()) / (y.max() - y.min())
    ref = NuSVR().fit(sx, sy).predict(sx) * (y.max() - y.min()) + y.min()
    np.testing.assert_allclose(est.predict(X), ref, atol=2e-3 * np.ptp(y))   # libsvm tol
    loo = cross_val_predict(NuSVR(), sx, sy, cv=LeaveOneOut()) * (y.max() - y.min()) + y.min()
    assert est.sigma_ == pytest.approx(np.sqrt(np.mean((loo - y) ** 2)), rel=1e-3)
    mean, std = est.predict(X[:3], return_std=True)
    p = est.probability_below(X[:3], reference=float(np.median(y)))
    assert std.shape == (3,) and np.all((p >= 0) & (p <= 1))


def test_svr_random_search_changes_hyperparameters():
    X, y = synthetic_curves(24, seed=4)
    est = SVRPredictor(search="random", n_search=10, error="cv", random_state=0).fit(X, y)
    assert est.best_params_ != {"C": 1.0, "gamma": "scale", "nu": 0.5}
    assert est.sigma_ > 0


def test_kkt_bias_and_fallback():
    y, f0 = np.array([1.0, 2.0, 3.0]), np.zeros((1, 3))
    alpha, alpha_hat = np.array([[0.5, 0.0, 0.0]]), np.array([[0.0, 0.0, 0.5]])
    bias, fb = kkt_bias(alpha, alpha_hat, f0, y, epsilon=0.1, c_box=1.0)
    assert bias[0] == pytest.approx(((1 - 0.1) + (3 + 0.1)) / 2) and not fb[0]
    bias, fb = kkt_bias(np.array([[1.0, 0, 0]]), np.zeros((1, 3)), f0, y, 0.1, 1.0)
    assert fb[0] and bias[0] == pytest.approx(2.0)               # only bound SVs: mean residual


def test_qsvr_bias_fallback_is_logged_and_visible(caplog):
    X, y = synthetic_curves(12)
    with caplog.at_level(logging.WARNING, logger="predictors.qsvr"):
        est = QSVRPredictor(num_bits=1, **FAST, random_state=0).fit(X, y)  # alpha in {0, C}
    assert est.bias_fallback_ and est.n_bias_fallbacks_ == 4
    assert "fallback" in caplog.text
    ok = QSVRPredictor(**FAST, random_state=0).fit(X, y)
    assert not ok.bias_fallback_


def test_combination_schemes():
    e, mse = np.array([-3.0, -2.0, -1.0]), np.array([0.3, 0.1, 0.2])
    np.testing.assert_allclose(combination_weights("mean", e, mse), 1 / 3)
    np.testing.assert_allclose(combination_weights("min_energy", e, mse), [1, 0, 0])
    np.testing.assert_allclose(combination_weights("best_fit", e, mse), [0, 1, 0])
    w = combination_weights("energy_softmax", e, mse)
    assert w[0] > w[1] > w[2] and w.sum() == pytest.approx(1)
    w = combination_weights("fit_inverse", e, mse)
    assert w[1] > w[2] > w[0] and w.sum() == pytest.approx(1)


def test_qsvr_ensemble_on_disjoint_subsets():
    X, y = synthetic_curves(90, seed=2)
    est = QSVRPredictor(max_points=20, ensemble_scaling="global", **FAST,
                        random_state=0).fit(X[:50], y[:50])
    sizes = [m["support"].shape[0] for m in est.members_]
    assert sizes == [17, 17, 16]                                  # ceil(50/20) disjoint parts
    assert est.member_weights_.sum() == pytest.approx(1) and (est.member_weights_ >= 0).all()
    F = est._transform(X[50:])
    manual = sum(w * est._member_predict(m, F) for w, m in zip(est.member_weights_, est.members_))
    np.testing.assert_allclose(est.predict(X[50:]), est._inverse_y(manual + est.y_offset_))
    assert r2_score(y[50:], est.predict(X[50:])) > 0.6
    sub = QSVRPredictor(max_points=20, large_n="subsample", **FAST, random_state=0).fit(X[:50], y[:50])
    assert len(sub.members_) == 1 and sub.members_[0]["support"].shape[0] == 20


def test_qsvr_ensemble_with_member_scaling():
    X, y = synthetic_curves(90, seed=2)
    est = QSVRPredictor(max_points=20, **FAST, random_state=0).fit(X[:50], y[:50])
    assert est.ensemble_scaling == "member" and len(est.sub_models_) == 3
    assert [len(sub.y_fit_) for sub in est.sub_models_] == [17, 17, 16]
    own = [sub.y_scaler_.data_max_[0] for sub in est.sub_models_]   # each scaled on its subset
    assert sum(m == pytest.approx(y[:50].max()) for m in own) == 1
    manual = sum(w * sub.predict(X[50:]) for w, sub in zip(est.member_weights_, est.sub_models_))
    np.testing.assert_allclose(est.predict(X[50:]), manual)
    assert est.member_weights_.sum() == pytest.approx(1)
    assert r2_score(y[50:], est.predict(X[50:])) > 0.6


@pytest.mark.parametrize("est", [SVRPredictor(search="random", n_search=5, random_state=0),
                                 QSVRPredictor(max_points=10, **FAST, random_state=0),
                                 QSVRPredictor(max_points=10, ensemble_scaling="global", **FAST,
                                               random_state=0)])
def test_state_round_trip(est):
    X, y = synthetic_curves(25)
    est.fit(X, y)
    state = json.loads(json.dumps(est.get_state()))
    fresh = type(est)()
    fresh.set_state(state)
    np.testing.assert_allclose(fresh.predict(X), est.predict(X), rtol=1e-12)


def test_seeded_qsvr_is_reproducible():
    X, y = synthetic_curves(15)
    a = QSVRPredictor(**FAST, random_state=3).fit(X, y).predict(X)
    b = QSVRPredictor(**FAST, random_state=3).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)


def test_qsvr_on_published_mlpf_curves_matches_classical_svr():
    import pandas as pd
    from sklearn.svm import SVR
    from sklearn.preprocessing import MinMaxScaler
    curves = pd.read_csv(TABLE).filter(like="loss_").to_numpy()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(curves))
    tr, te = order[:20], order[20:]
    X, y = curves[:, :25], curves[:, 99]
    published = dict(preset_options("qsvr", "published"), num_reads=30, num_sweeps=300, stride=2)
    q = QSVRPredictor(**published, random_state=0).fit(X[tr], y[tr])
    r2_q = r2_score(y[te], q.predict(X[te]))
    sx, sy = MinMaxScaler(), MinMaxScaler()
    Xs = X[:, ::-1][:, ::2][:, ::-1]
    svr = SVR(C=q.c_effective_, epsilon=0.02, gamma=0.1).fit(sx.fit_transform(Xs[tr]),
                                                              sy.fit_transform(y[tr, None]).ravel())
    ref = sy.inverse_transform(svr.predict(sx.transform(Xs[te]))[:, None]).ravel()
    r2_c = r2_score(y[te], ref)
    assert r2_q > 0.7 and abs(r2_q - r2_c) < 0.05
