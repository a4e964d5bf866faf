"""Q-SVR: epsilon-SVR trained by (simulated or quantum) annealing of a QUBO.

Pasetto, Riedel, Melgani, Michielsen, Cavallaro, "Quantum SVR for Chlorophyll Concentration
Estimation in Water With Remote Sensing", IEEE GRSL 19 (2022); used as a learning-curve predictor
for Swift-Hyperband by Wulff, Garcia Amboage et al., "Distributed hybrid quantum-classical
performance prediction for hyperparameter optimization", Quantum Machine Intelligence 6, 59 (2024).

Fit: scale X and y, build the QUBO of the penalised dual (``predictors.qubo``) on at most
``max_points`` curves, sample it, decode the ``num_solutions`` lowest-energy *distinct* samples,
give each its own bias from the KKT conditions (free alpha_n: b = y_n - eps - f0(x_n); free
alpha_hat_n: b = y_n + eps - f0(x_n); "free" means 0 < coefficient < C_eff), and combine them
(``combine``).  With no free support vector the bias falls back to the mean residual; this is
logged and counted in ``n_bias_fallbacks_``.  More curves than ``max_points``: an ensemble of
Q-SVRs on disjoint subsets, each weighted by its R^2 on the training curves it did not see
(clipped at 0), as in the subset-combination study of Garcia Amboage (JP-Amboage/performance-pred).

``center_y`` (on in the default ``smoothed`` preset, off in ``published``): the QUBO is built on
the scaled target minus its training mean, which is added back at prediction.  The penalty
xi (sum c)^2 that replaces the dual's equality constraint acts like a prior pulling the bias
towards 0; centring puts the bias there, so the penalised dual behaves like the exact SVR dual
(measured in ``benchmarks/predictor_accuracy.py``).

``ensemble_scaling`` (ensemble only): ``global`` scales X and y once on all curves and fits the
members in that space (the published subset study's description); ``member`` (default, in the
``smoothed`` preset) makes every member a complete Q-SVR with its own scalers fitted on its own
subset, combined in the units of y.  With the features' MinMax range taken from all curves, the
loss spikes of a few curves compress everybody else's features; per-member scaling avoids that.
"""
from __future__ import annotations

import logging
import math
import time

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from .features import CurveModelMixin
from .options import check_options, defaults
from .qubo import build_svr_qubo, effective_c, rbf_kernel
from .samplers import check_sampler, sample_qubo

log = logging.getLogger(__name__)
_D = defaults("qsvr")


def lowest_distinct(bits: np.ndarray, energies: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``m`` lowest-energy distinct rows of ``bits`` with their energies, best first."""
    uniq, first = np.unique(bits, axis=0, return_index=True)
    e = energies[first]
    order = np.argsort(e, kind="stable")[:m]
    return uniq[order], e[order]


def kkt_bias(alpha: np.ndarray, alpha_hat: np.ndarray, f0: np.ndarray, y: np.ndarray,
             epsilon: float, c_box: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-solution bias from free support vectors; (biases (S,), used_fallback (S,) bool)."""
    tol = 1e-9 * max(c_box, 1.0)
    free_a = (alpha > tol) & (alpha < c_box - tol)
    free_h = (alpha_hat > tol) & (alpha_hat < c_box - tol)
    resid = y[None, :] - f0
    total = np.where(free_a, resid - epsilon, 0.0).sum(1) + np.where(free_h, resid + epsilon, 0.0).sum(1)
    count = free_a.sum(1) + free_h.sum(1)
    fallback = count == 0
    bias = np.where(fallback, resid.mean(1), total / np.maximum(count, 1))
    return bias, fallback


def combination_weights(scheme: str, energies: np.ndarray, mse: np.ndarray) -> np.ndarray:
    """Weights of the decoded solutions: by energy, by training fit, or uniform."""
    s = energies.size
    if scheme == "mean" or s == 1:
        return np.full(s, 1.0 / s)
    if scheme == "min_energy":
        return np.eye(s)[np.argmin(energies)]
    if scheme == "best_fit":
        return np.eye(s)[np.argmin(mse)]
    if scheme == "energy_softmax":       # temperature = mean gap above the best energy
        gap = energies - energies.min()
        z = -gap / gap.mean() if gap.mean() > 0 else np.zeros(s)
    elif scheme == "fit_inverse":
        inv = 1.0 / np.maximum(mse, 1e-12)
        return inv / inv.sum()
    elif scheme == "fit_softmax":        # softmax of 1/MSE, as in the published study
        z = 1.0 / np.maximum(mse, 1e-12)
    else:
        raise ValueError(f"unknown combination scheme {scheme!r}")
    w = np.exp(z - z.max())
    return w / w.sum()


class QSVRPredictor(CurveModelMixin, RegressorMixin, BaseEstimator):
    """Annealing-trained epsilon-SVR (RBF) on partial learning curves; see the module docstring.

    Parameters are those of ``predictors.options.QSVR_OPTIONS`` plus ``random_state``.
    Fitted attributes: ``members_`` (support points, combined coefficients, bias),
    ``member_weights_``, ``n_bias_fallbacks_``, ``bias_fallback_``, ``solution_energies_``,
    ``c_effective_``, ``sample_time_``, ``fit_time_``, ``y_offset_`` (scaled-target mean taken
    out before the QUBO with ``center_y``, else 0).
    """

    def __init__(self, num_bits=_D["num_bits"], base=_D["base"], k0=_D["k0"],
                 epsilon=_D["epsilon"], xi=_D["xi"], gamma=_D["gamma"], beta=_D["beta"],
                 max_points=_D["max_points"], large_n=_D["large_n"], sampler=_D["sampler"],
                 num_reads=_D["num_reads"], num_sweeps=_D["num_sweeps"],
                 beta_range=_D["beta_range"], num_solutions=_D["num_solutions"],
                 combine=_D["combine"], bias=_D["bias"], center_y=_D["center_y"],
                 ensemble_scaling=_D["ensemble_scaling"],
                 n_hyperparameters=_D["n_hyperparameters"],
                 first_differences=_D["first_differences"],
                 second_differences=_D["second_differences"], stride=_D["stride"],
                 median_window=_D["median_window"], curve_points=_D["curve_points"],
                 scaler=_D["scaler"], random_state=None):
        self.num_bits, self.base, self.k0 = num_bits, base, k0
        self.epsilon, self.xi, self.gamma, self.beta = epsilon, xi, gamma, beta
        self.max_points, self.large_n, self.sampler = max_points, large_n, sampler
        self.num_reads, self.num_sweeps, self.beta_range = num_reads, num_sweeps, beta_range
        self.num_solutions, self.combine, self.bias = num_solutions, combine, bias
        self.center_y, self.ensemble_scaling = center_y, ensemble_scaling
        self.n_hyperparameters = n_hyperparameters
        self.first_differences, self.second_differences = first_differences, second_differences
        self.stride, self.scaler, self.random_state = stride, scaler, random_state
        self.median_window, self.curve_points = median_window, curve_points

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y):
        start = time.perf_counter()
        params = self.get_params()
        check_options("qsvr", {k: v for k, v in params.items() if k != "random_state"})
        check_sampler(self.sampler)                    # qpu unavailable -> error, never SA
        F, ys = self._fit_transform(X, y)
        self.y_offset_ = float(ys.mean()) if self.center_y else 0.0
        ys = ys - self.y_offset_
        self.X_fit_ = np.asarray(X, dtype=float).tolist()
        self.y_fit_ = np.asarray(y, dtype=float).ravel().tolist()
        self.c_effective_ = effective_c(self.num_bits, self.base, self.k0)
        rng = np.random.default_rng(self.random_state)
        groups = self._partition(ys.size, rng)
        self.members_, self.solution_energies_, self.sub_models_ = [], [], []
        self.n_bias_fallbacks_, self.sample_time_ = 0, 0.0
        if len(groups) > 1 and self.ensemble_scaling == "member":
            self._fit_sub_models(np.asarray(X, dtype=float), np.asarray(self.y_fit_), groups, rng)
        else:
            for g in groups:
                self.members_.append(self._fit_member(F[g], ys[g], int(rng.integers(2 ** 31 - 1))))
            self.member_weights_ = self._member_weights(F, ys, groups)
        self.bias_fallback_ = self.n_bias_fallbacks_ > 0
        if self.bias_fallback_:
            log.warning("Q-SVR: %d decoded solution(s) had no free support vector; their bias is "
                        "the mean residual (fallback)", self.n_bias_fallbacks_)
        self.fit_time_ = time.perf_counter() - start
        return self

    def _partition(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        if n <= self.max_points:
            return [np.arange(n)]
        if self.large_n == "subsample":
            return [np.sort(rng.choice(n, self.max_points, replace=False))]
        parts = math.ceil(n / self.max_points)
        return [np.sort(p) for p in np.array_split(rng.permutation(n), parts)]

    def _fit_member(self, F: np.ndarray, y: np.ndarray, seed: int) -> dict:
        kernel = rbf_kernel(F, F, self.gamma)
        qubo = build_svr_qubo(kernel, y, num_bits=self.num_bits, base=self.base, k0=self.k0,
                              epsilon=self.epsilon, xi=self.xi, beta=self.beta)
        t0 = time.perf_counter()
        bits, energies = sample_qubo(qubo.to_bqm(), self.sampler, num_reads=self.num_reads,
                                     num_sweeps=self.num_sweeps, beta_range=self.beta_range,
                                     seed=seed)
        self.sample_time_ += time.perf_counter() - t0
        sel, e_sel = lowest_distinct(bits, energies, self.num_solutions)
        alpha, alpha_hat = qubo.decode(sel)
        coef = alpha - alpha_hat                                   # (S, N)
        f0 = coef @ kernel                                         # kernel is symmetric
        if self.bias == "kkt":
            biases, fallback = kkt_bias(alpha, alpha_hat, f0, y, self.epsilon, self.c_effective_)
            self.n_bias_fallbacks_ += int(fallback.sum())
        else:
            biases = (y[None, :] - f0).mean(1)
        mse = ((f0 + biases[:, None] - y[None, :]) ** 2).mean(1)
        w = combination_weights(self.combine, e_sel, mse)
        self.solution_energies_.append(e_sel.tolist())
        return {"support": F, "coef": w @ coef, "bias": float(w @ biases)}

    def _fit_sub_models(self, X: np.ndarray, y: np.ndarray, groups, rng) -> None:
        """``ensemble_scaling: member``: one complete Q-SVR (own scalers) per disjoint subset."""
        params = self.get_params()
        params.update(large_n="subsample", ensemble_scaling="global")   # each fits one QUBO
        for g in groups:
            params["random_state"] = int(rng.integers(2 ** 31 - 1))
            sub = QSVRPredictor(**params).fit(X[g], y[g])
            self.sub_models_.append(sub)
            self.members_.extend(sub.members_)         # each in its own scaled space
            self.solution_energies_.extend(sub.solution_energies_)
            self.n_bias_fallbacks_ += sub.n_bias_fallbacks_
            self.sample_time_ += sub.sample_time_
        self.member_weights_ = self._r2_weights(
            [(y, sub.predict(X)) for sub in self.sub_models_], groups)

    def _member_weights(self, F: np.ndarray, ys: np.ndarray, groups) -> np.ndarray:
        if len(groups) == 1:
            return np.ones(1)
        return self._r2_weights([(ys, self._member_predict(m, F)) for m in self.members_], groups)

    @staticmethod
    def _r2_weights(truth_and_predictions, groups) -> np.ndarray:
        """Weights proportional to each member's R^2 (clipped at 0) on the curves it did not see."""
        scores = []
        for (truth, pred), g in zip(truth_and_predictions, groups):
            rest = np.setdiff1d(np.arange(truth.size), g)
            ss_tot = ((truth[rest] - truth[rest].mean()) ** 2).sum()
            r2 = 1.0 - ((truth[rest] - pred[rest]) ** 2).sum() / ss_tot if ss_tot > 0 else 0.0
            scores.append(max(r2, 0.0))
        scores = np.asarray(scores)
        if scores.sum() <= 0:
            log.warning("Q-SVR ensemble: no member has a positive held-out R^2; equal weights")
            return np.full(len(groups), 1.0 / len(groups))
        return scores / scores.sum()

    # ------------------------------------------------------------------ prediction
    def _member_predict(self, member: dict, F: np.ndarray) -> np.ndarray:
        return rbf_kernel(F, member["support"], self.gamma) @ member["coef"] + member["bias"]

    def predict(self, X) -> np.ndarray:
        if self.sub_models_:
            self._transform(X)                          # shape check
            return sum(w * sub.predict(X) for w, sub in zip(self.member_weights_, self.sub_models_))
        F = self._transform(X)
        scaled = sum(w * self._member_predict(m, F)
                     for w, m in zip(self.member_weights_, self.members_))
        return self._inverse_y(scaled + self.y_offset_)

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        """JSON-able fitted state (the annealer is not re-run by ``set_state``)."""
        params = self.get_params()
        params["beta_range"] = list(params["beta_range"]) if params["beta_range"] else None
        state = {"params": params, "fitted": hasattr(self, "members_")}
        if state["fitted"]:
            state.update(X=self.X_fit_, y=self.y_fit_,
                         members=[{"support": m["support"].tolist(), "coef": m["coef"].tolist(),
                                   "bias": m["bias"]} for m in self.members_],
                         member_weights=self.member_weights_.tolist(), y_offset=self.y_offset_,
                         n_bias_fallbacks=self.n_bias_fallbacks_,
                         solution_energies=self.solution_energies_,
                         sub_models=[sub.get_state() for sub in self.sub_models_])
        return state

    def set_state(self, state) -> None:
        params = dict(state["params"])
        if params.get("beta_range") is not None:
            params["beta_range"] = tuple(params["beta_range"])
        self.set_params(**params)
        if not state.get("fitted"):
            return
        self._fit_transform(state["X"], state["y"])   # deterministic: rebuilds the scalers only
        self.X_fit_, self.y_fit_ = state["X"], state["y"]
        self.c_effective_ = effective_c(self.num_bits, self.base, self.k0)
        self.members_ = [{"support": np.asarray(m["support"]), "coef": np.asarray(m["coef"]),
                          "bias": float(m["bias"])} for m in state["members"]]
        self.member_weights_ = np.asarray(state["member_weights"])
        self.y_offset_ = float(state.get("y_offset", 0.0))
        self.sub_models_ = []
        for sub_state in state.get("sub_models", []):
            sub = QSVRPredictor()
            sub.set_state(sub_state)
            self.sub_models_.append(sub)
        self.n_bias_fallbacks_ = int(state["n_bias_fallbacks"])
        self.bias_fallback_ = self.n_bias_fallbacks_ > 0
        self.solution_energies_ = state["solution_energies"]
