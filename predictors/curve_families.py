"""Cold-start learning-curve extrapolation: a weighted ensemble of parametric curve families.

Idea from Domhan, Springenberg, Hutter, "Speeding up Automatic Hyperparameter Optimization of Deep
Neural Networks by Extrapolation of Learning Curves", IJCAI 2015: fit several monotone parametric
families to ONE partial curve (no other curves needed) and combine them, weighted by how well
they fit, into a predictive distribution of a later loss.  Our own, cheaper construction:

* every family is written ``y(x) = c + a * g_theta(x)`` with ``g_theta -> 0`` as ``x -> inf``, so
  ``c`` is the asymptote and, for a fixed shape ``theta``, ``(c, a)`` is a closed-form weighted
  least-squares fit.  The nonlinear shape parameters are a fixed grid; every shape of every family
  is fitted at once with a few matrix products (no iterative optimiser).  Families (equal prior
  mass, split evenly over each family's grid):

  - ``pow3``      ``c - a x^-alpha``;
  - ``pow4``      ``c - a (x + b)^-alpha``;
  - ``exp3``      ``c - a exp(-x/tau)`` (a fine grid of tau: the commonest shape);
  - ``janoschek`` ``c - a exp(-kappa x^delta)`` (Weibull and exp4 are reparametrisations);
  - ``mmf``       ``c - a / (1 + (x/tau)^delta)`` (log-power with an offset is the same shape);
  - ``ilog``      ``c - a / log(x + b)``.

  (Signs: the code fits ``c + a*g`` with ``a >= 0`` and decreasing ``g``, a non-increasing loss.)
* bounds: ``a >= 0`` (monotone non-increasing; a rising curve is fitted flat) and the asymptote
  ``c >= last - max_gain * drop`` (``drop`` = range of the observed curve) and, if given,
  ``c >= lower_bound``; a violating fit is refitted with ``c`` on the bound;
* recent epochs weigh more (weights ``0.5 + x/n``); with ``robust`` and >= 6 points, one Huber
  reweighting pass against the best single fit tames loss spikes;
* combination: shape ``s`` gets posterior weight ``prior_s * exp(-SSE_s / (2 sigma^2))``, where
  ``sigma^2`` is the best fit's residual variance (floored at ``rel_noise * drop``);
* predictive mean = weighted mean of the shapes' extrapolations; variance = spread between shapes
  + each shape's least-squares parameter variance at the target + ``sigma^2`` (the target's own
  noise).

Short curves: with **1 point** nothing can be extrapolated: mean = that loss, std = ``inf``.  With
**2 points** every shape fits exactly, so the weights stay at the prior: the mean is the average
extrapolation of all shapes and the std is their disagreement (+ the noise floor); with **3** the
fits begin to separate the shapes, and sigma is still the floor (no residual degrees of freedom).
The asymptote bound is what keeps short-curve extrapolations sane.

Limits: the shapes are a grid, so a curve between grid points is matched only approximately, and
the raw std is often too small on real curves (the weights concentrate on the few best-fitting
shapes).  Use it as a feature or with a calibration on top, as ``hpo.schedulers.predictive`` does.

:class:`CurveFamilyPredictor` wraps this as a ``hpo.protocols.ProbabilisticPredictor``; its
``fit(X, y)`` (optional) learns the horizon when none is given and rescales the std so that the
standardised residuals on the given pairs have unit RMS.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.stats import norm
from sklearn.base import BaseEstimator, RegressorMixin

_TAUS = np.geomspace(0.5, 300.0, 24)


def _pow3(x, alpha):
    return x ** -alpha


def _pow4(x, alpha, b):
    return (x + b) ** -alpha


def _janoschek(x, tau, delta):
    return np.exp(-((x / tau) ** delta))


def _mmf(x, tau, delta):
    return 1.0 / (1.0 + (x / tau) ** delta)


def _ilog(x, b):
    return 1.0 / np.log(x + b)


def _family_shapes() -> list[tuple[str, Any, tuple[float, ...]]]:
    """(family, g(x, *theta), theta) for every grid point."""
    out: list[tuple[str, Any, tuple[float, ...]]] = []
    out += [("pow3", _pow3, (a,)) for a in np.geomspace(0.05, 3.0, 14)]
    out += [("pow4", _pow4, (a, b)) for b in (2.0, 5.0, 15.0, 40.0) for a in np.geomspace(0.1, 4.0, 8)]
    out += [("exp3", _janoschek, (t, 1.0)) for t in np.geomspace(0.5, 300.0, 48)]
    out += [("janoschek", _janoschek, (t, d)) for d in (0.25, 0.4, 0.6, 0.8, 1.0, 1.3, 1.7, 2.2)
            for t in _TAUS]
    out += [("mmf", _mmf, (t, d)) for d in (0.5, 0.7, 0.85, 1.0, 1.25, 1.5, 2.0, 3.0) for t in _TAUS]
    out += [("ilog", _ilog, (b,)) for b in (1.0, 2.0, 4.0, 8.0)]
    return out


_SHAPES = _family_shapes()
FAMILIES = tuple(dict.fromkeys(f for f, _, _ in _SHAPES))
_FAMILY_OF = np.array([FAMILIES.index(f) for f, _, _ in _SHAPES])
_LOG_PRIOR = -np.log(len(FAMILIES) * np.bincount(_FAMILY_OF)[_FAMILY_OF])


@lru_cache(maxsize=512)
def _basis(n: int, target: float) -> tuple[np.ndarray, np.ndarray]:
    """(G, g_T): every shape at epochs 1..n (S x n) and at the target epoch (S,)."""
    x = np.arange(1, n + 1, dtype=float)
    G = np.stack([g(x, *th) for _, g, th in _SHAPES])
    gT = np.array([g(np.array([float(target)]), *th)[0] for _, g, th in _SHAPES])
    G.setflags(write=False)
    gT.setflags(write=False)
    return G, gT


def _fit_shapes(G, y, w, c_lo):
    """Weighted LS of y = c + a g for every row g of G, with a >= 0 and c >= c_lo.
    Returns (c, a, weighted mean squared residual, gm, Sgg)."""
    gm = G @ w
    ym = float(w @ y)
    Sgg = np.maximum((G * G) @ w - gm * gm, 1e-300)
    Sgy = G @ (w * y) - gm * ym
    a = np.maximum(Sgy / Sgg, 0.0)
    c = ym - a * gm
    low = c < c_lo
    if low.any():  # refit with the asymptote on its bound: y - c_lo = a g
        Gl = G[low]
        a[low] = np.maximum((Gl @ (w * (y - c_lo))) / np.maximum((Gl * Gl) @ w, 1e-300), 0.0)
        c[low] = c_lo
    R = y[None, :] - c[:, None] - a[:, None] * G
    return c, a, (R * R) @ w, gm, Sgg


def extrapolate(curve, target: float, *, max_gain: float = 1.0, rel_noise: float = 0.005,
                robust: bool = True, lower_bound: float | None = None) -> tuple[float, float]:
    """Predictive (mean, std) of the loss at epoch ``target`` from one partial ``curve`` (losses
    of epochs 1..n; NaN entries are skipped, a non-finite last loss gives ``(inf, inf)``)."""
    y_all = np.asarray(curve, dtype=float)
    if y_all.size == 0 or not np.isfinite(y_all[-1]):
        return math.inf, math.inf
    n = y_all.size
    if target <= n:  # already observed
        return float(y_all[int(target) - 1]), 0.0
    if n == 1:
        return float(y_all[0]), math.inf
    G, gT = _basis(n, float(target))
    ok = np.isfinite(y_all)
    y, Gk = y_all[ok], G[:, ok]
    x = np.arange(1, n + 1, dtype=float)[ok]
    if y.size < 2:
        return float(y_all[-1]), math.inf
    w = 0.5 + x / n
    drop = float(y.max() - y.min())
    scale = max(drop, 1e-3 * abs(float(y[-1])), 1e-12)
    c_lo = float(y[-1]) - max_gain * scale
    if lower_bound is not None:
        c_lo = max(c_lo, float(lower_bound))
    wn = w / w.sum()
    c, a, mse, gm, Sgg = _fit_shapes(Gk, y, wn, c_lo)
    if robust and y.size >= 6:  # one Huber pass against the best single fit
        b = int(np.argmin(mse))
        r = y - c[b] - a[b] * Gk[b]
        s = 1.4826 * float(np.median(np.abs(r - np.median(r)))) + 1e-12 * scale
        w = w * np.minimum(1.0, 2.5 * s / np.maximum(np.abs(r), 1e-300))
        wn = w / w.sum()
        c, a, mse, gm, Sgg = _fit_shapes(Gk, y, wn, c_lo)
    m = y.size
    n_eff = 1.0 / float(wn @ wn)
    sigma2 = max(float(mse.min()) * m / max(m - 3, 1) if m > 3 else 0.0, (rel_noise * scale) ** 2)
    logw = _LOG_PRIOR - m * mse / (2.0 * sigma2)
    pi = np.exp(logw - logw.max())
    pi /= pi.sum()
    pred = c + a * gT
    mean = float(pi @ pred)
    between = float(pi @ (pred - mean) ** 2)
    param = float(pi @ (sigma2 / n_eff * (1.0 + (gT - gm) ** 2 / Sgg)))
    return mean, math.sqrt(between + param + sigma2)


def extrapolate_many(X, target: float, **options) -> tuple[np.ndarray, np.ndarray]:
    """:func:`extrapolate` for each row of ``X`` (rows may end in NaN padding)."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    mean, std = np.empty(len(X)), np.empty(len(X))
    for i, row in enumerate(X):
        last = np.flatnonzero(np.isfinite(row))
        mean[i], std[i] = extrapolate(row[: last[-1] + 1] if last.size else row[:0], target, **options) \
            if last.size else (math.inf, math.inf)
    return mean, std


class CurveFamilyPredictor(RegressorMixin, BaseEstimator):
    """``ProbabilisticPredictor`` over :func:`extrapolate`.  Needs no training data when
    ``target_epoch`` is given; ``fit(X, y)`` then only calibrates the std.  Without
    ``target_epoch``, ``fit`` picks the horizon (epochs ``e * 2**(k/2)``, k = 1..16) whose
    extrapolations best match ``y``, as when Swift-Hyperband asks for the loss at a rung."""

    def __init__(self, target_epoch=None, max_gain=1.0, rel_noise=0.005, robust=True, lower_bound=None,
                 random_state=None):
        self.target_epoch = target_epoch
        self.max_gain = max_gain
        self.rel_noise = rel_noise
        self.robust = robust
        self.lower_bound = lower_bound
        self.random_state = random_state  # accepted for the predictors API; the fit is deterministic

    def _opts(self) -> dict[str, Any]:
        return {"max_gain": self.max_gain, "rel_noise": self.rel_noise, "robust": self.robust,
                "lower_bound": self.lower_bound}

    def _target(self) -> float:
        t = getattr(self, "target_", None) or self.target_epoch
        if t is None:
            raise ValueError("CurveFamilyPredictor needs target_epoch, or fit(X, y) to learn it")
        return float(t)

    def fit(self, X, y):
        X, y = np.atleast_2d(np.asarray(X, dtype=float)), np.asarray(y, dtype=float).ravel()
        if self.target_epoch is not None:
            self.target_ = float(self.target_epoch)
        else:
            e = X.shape[1]
            cands = [e * 2 ** (k / 2) for k in range(1, 17)]
            errs = [np.nanmean((extrapolate_many(X, t, **self._opts())[0] - y) ** 2) for t in cands]
            self.target_ = float(cands[int(np.nanargmin(errs))])
        mean, std = extrapolate_many(X, self.target_, **self._opts())
        z = (y - mean) / std
        z = z[np.isfinite(z)]
        self.std_scale_ = float(np.clip(np.sqrt(np.mean(z * z)), 0.25, 20.0)) if z.size >= 3 else 1.0
        return self

    def predict_dist(self, X) -> tuple[np.ndarray, np.ndarray]:
        mean, std = extrapolate_many(X, self._target(), **self._opts())
        return mean, std * getattr(self, "std_scale_", 1.0)

    def predict(self, X, return_std: bool = False):
        mean, std = self.predict_dist(X)
        return (mean, std) if return_std else mean

    def probability_below(self, X, reference: float) -> np.ndarray:
        mean, std = self.predict_dist(X)
        with np.errstate(divide="ignore", invalid="ignore"):
            return norm.cdf((reference - mean) / np.maximum(std, 1e-300))

    def get_state(self) -> dict:
        return {"params": self.get_params(), "target": getattr(self, "target_", None),
                "std_scale": getattr(self, "std_scale_", None)}

    def set_state(self, state) -> None:
        self.set_params(**state["params"])
        for attr, key in (("target_", "target"), ("std_scale_", "std_scale")):
            if state.get(key) is not None:
                setattr(self, attr, float(state[key]))
