"""Classical SVR learning-curve predictor with an error estimate for probabilistic stopping.

Baker, Gupta, Raskar, Naik, "Accelerating Neural Architecture Search using Performance Prediction"
(ICLR 2018 workshop, arXiv:1705.10823): nu-SVR with an RBF kernel on partial curves (optionally
their first/second differences and the hyperparameters), hyperparameters by random search with
cross-validation, and a Gaussian error model whose sigma is estimated by leave-one-out
cross-validation, so that P(final loss < reference) = Phi((reference - prediction) / sigma).
The defaults (scikit-learn NuSVR defaults, MinMax scaling of X and y, curve values only) are those
of the Swift-Hyperband reference predictor (Garcia Amboage et al., EPJ Web Conf. 295, 12005, 2024).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import loguniform, norm, uniform
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import KFold, LeaveOneOut, RandomizedSearchCV, cross_val_predict
from sklearn.svm import SVR, NuSVR

from .features import CurveModelMixin
from .options import check_options, defaults

_D = defaults("svr")


class SVRPredictor(CurveModelMixin, RegressorMixin, BaseEstimator):
    """nu-SVR / epsilon-SVR (RBF) on partial learning curves, scaled inside the estimator.

    Fitted attributes: ``svr_`` (the inner scikit-learn model), ``best_params_`` (C, nu/epsilon,
    gamma actually used), ``sigma_`` (residual standard deviation in the units of y, from
    leave-one-out or k-fold predictions; None with ``error="none"``).
    """

    def __init__(self, kind=_D["kind"], C=_D["C"], nu=_D["nu"], epsilon=_D["epsilon"],
                 gamma=_D["gamma"], search=_D["search"], n_search=_D["n_search"], cv=_D["cv"],
                 error=_D["error"], n_hyperparameters=_D["n_hyperparameters"],
                 first_differences=_D["first_differences"],
                 second_differences=_D["second_differences"], stride=_D["stride"],
                 median_window=_D["median_window"], curve_points=_D["curve_points"],
                 scaler=_D["scaler"], random_state=None):
        self.kind, self.C, self.nu, self.epsilon, self.gamma = kind, C, nu, epsilon, gamma
        self.search, self.n_search, self.cv, self.error = search, n_search, cv, error
        self.n_hyperparameters = n_hyperparameters
        self.first_differences, self.second_differences = first_differences, second_differences
        self.stride, self.scaler, self.random_state = stride, scaler, random_state
        self.median_window, self.curve_points = median_window, curve_points

    def _base_params(self) -> dict:
        p = {"C": self.C, "gamma": self.gamma}
        p["nu" if self.kind == "nu" else "epsilon"] = self.nu if self.kind == "nu" else self.epsilon
        return p

    def _model(self, **params):
        return NuSVR(kernel="rbf", **params) if self.kind == "nu" else SVR(kernel="rbf", **params)

    def fit(self, X, y):
        check_options("svr", {k: v for k, v in self.get_params().items() if k != "random_state"})
        F, ys = self._fit_transform(X, y)
        self.X_fit_ = np.asarray(X, dtype=float).tolist()
        self.y_fit_ = np.asarray(y, dtype=float).ravel().tolist()
        params = self._base_params()
        folds = min(self.cv, ys.size)
        if self.search == "random" and ys.size >= 4:
            space = {"C": loguniform(1e-3, 1e2), "gamma": loguniform(1e-3, 1e1)}
            if self.kind == "nu":
                space["nu"] = uniform(0.05, 0.95)
            else:
                space["epsilon"] = loguniform(1e-3, 0.3)
            cv = KFold(folds, shuffle=True, random_state=self.random_state)
            search = RandomizedSearchCV(self._model(), space, n_iter=self.n_search, cv=cv,
                                        scoring="neg_mean_squared_error",
                                        random_state=self.random_state, n_jobs=1)
            search.fit(F, ys)
            params = {k: float(v) for k, v in search.best_params_.items()}
        self.best_params_ = params
        self.svr_ = self._model(**params).fit(F, ys)
        self.sigma_ = self._residual_sigma(F, ys, folds)
        return self

    def _residual_sigma(self, F: np.ndarray, ys: np.ndarray, folds: int) -> float | None:
        if self.error == "none":
            return None
        cv = LeaveOneOut() if self.error == "loo" else KFold(folds, shuffle=True,
                                                             random_state=self.random_state)
        pred = cross_val_predict(self._model(**self.best_params_), F, ys, cv=cv)
        resid = self._inverse_y(pred) - self._inverse_y(ys)
        return float(np.sqrt(np.mean(resid ** 2)))

    def predict(self, X, return_std: bool = False):
        mean = self._inverse_y(self.svr_.predict(self._transform(X)))
        if not return_std:
            return mean
        if self.sigma_ is None:
            raise ValueError("no error estimate: the predictor was built with error='none'")
        return mean, np.full(mean.shape, self.sigma_)

    def probability_below(self, X, reference: float) -> np.ndarray:
        """P(target loss < reference) under Baker et al.'s Gaussian error model."""
        mean, std = self.predict(X, return_std=True)
        return norm.cdf((reference - mean) / np.maximum(std, 1e-12))

    def get_state(self) -> dict:
        """JSON-able state; ``set_state`` refits on the stored curves (libsvm and the seeded
        search are deterministic, so the restored model is the same)."""
        state = {"params": self.get_params(), "fitted": hasattr(self, "svr_")}
        if state["fitted"]:
            state.update(X=self.X_fit_, y=self.y_fit_)
        return state

    def set_state(self, state) -> None:
        self.set_params(**state["params"])
        if state.get("fitted"):
            self.fit(state["X"], state["y"])
