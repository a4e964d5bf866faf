"""The learned part of the ``predictive`` scheduler: chained rung-to-rung models and their
online calibration.  Pure numpy; no state beyond what :meth:`get_state` writes.

Stage ``j`` maps a trial's state at rung ``j`` to its loss at the next rung (the last stage to its
final loss at ``max_epochs``).  Every trial that reaches rung ``j + 1`` adds a training pair to
stage ``j``, so all curves seen so far teach the model, not only completed ones (which are few:
survivors of every cut).  Each stage is two ridge regressions (closed form, standardised inputs):

* **full**: ``next ~ 1 + z + f`` with ``z`` the loss at the rung (median of its last 3 epochs) and
  ``f`` the single-curve family extrapolation of the curve to the next rung
  (:mod:`predictors.curve_families`, Domhan et al., IJCAI 2015) — the cold-start extrapolation
  enters as a feature;
* **reduced**: ``next ~ 1 + z``, used to chain later stages (their ``f`` is unknown).

Predicting the final loss from rung ``j`` chains the stages as linear-Gaussian maps:
``mu <- a_k + b_k mu``, ``var <- b_k^2 var + (kappa_k s_k)^2``, where ``s_k`` is the stage's
leave-one-out residual RMS and ``kappa_k`` its conformal scale.

**Calibration** (split-conformal in its online form; Vovk et al. 2005, Angelopoulos & Bates 2021):
every one-step prediction ``(mu, s)`` a stage makes is scored when the trial reaches the next rung:
``u = (observed - mu) / s``.  ``kappa`` is the conformal ``90 %`` quantile of ``|u|`` divided by
1.645 (so ``mu +- 1.645 kappa s`` would have covered 90 % of past outcomes), and each new ``u`` is
first checked against the ``kappa`` of the residuals before it: the running coverage of those
checks is the online test of calibration.  A stage is *trusted* when it has ``min_pairs``
training pairs, ``min_calib`` scored residuals, and its last 20 checks cover >= ``min_coverage``.

Models refit on a geometric schedule (when the pairs have grown by 25 % since the last fit, and
at 4, 5, 6, ... pairs before that), never per result.
"""
from __future__ import annotations

import math
import time
from typing import Any, Mapping

import numpy as np

Z90 = 1.6448536269514722  # standard normal 95 % quantile: a central 90 % interval


def _ridge(X: np.ndarray, y: np.ndarray, lam: float = 1e-3) -> tuple[np.ndarray, float]:
    """Ridge with intercept on standardised columns; returns (coefficients incl. intercept in
    original units, leave-one-out residual RMS)."""
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 1e-12 * (1 + np.abs(mu)), sd, 1.0)
    Z = np.column_stack([np.ones(len(X)), (X - mu) / sd])
    P = np.eye(Z.shape[1]) * lam * len(X)
    P[0, 0] = 0.0
    A = np.linalg.inv(Z.T @ Z + P)
    beta = A @ Z.T @ y
    h = np.einsum("ij,jk,ik->i", Z, A, Z)
    loo = (y - Z @ beta) / np.maximum(1.0 - h, 1e-3)
    slope = beta[1:] / sd
    return np.concatenate([[beta[0] - slope @ mu], slope]), float(np.sqrt(np.mean(loo ** 2)))


class Stage:
    """One rung-to-next-rung model with its calibration record."""

    def __init__(self, min_pairs: int, min_calib: int, min_coverage: float):
        self.min_pairs, self.min_calib, self.min_coverage = min_pairs, min_calib, min_coverage
        self.pairs: list[tuple[float, float, float]] = []  # (z, f, next loss)
        self.u: list[float] = []      # standardised one-step residuals, in arrival order
        self.hits: list[bool] = []    # was each residual inside the interval of the kappa before it
        self.fitted_on = 0
        self.full: np.ndarray | None = None
        self.reduced: np.ndarray | None = None
        self.s_full = self.s_reduced = math.inf
        self.fit_seconds: list[float] = []

    # ---- data and fitting ----------------------------------------------------------------
    def add_pair(self, z: float, f: float, nxt: float) -> None:
        if math.isfinite(z) and math.isfinite(f) and math.isfinite(nxt):
            self.pairs.append((z, f, nxt))
            self._maybe_refit()

    def _due(self) -> bool:
        n = len(self.pairs)
        return n >= 3 and (n < 8 or n >= 1.25 * self.fitted_on)

    def _maybe_refit(self) -> None:
        if self._due():
            self._fit(len(self.pairs))

    def _fit(self, n: int) -> None:
        t0 = time.perf_counter()
        P = np.asarray(self.pairs[:n], dtype=float)
        self.reduced, self.s_reduced = _ridge(P[:, :1], P[:, 2])
        if n >= 4:
            self.full, self.s_full = _ridge(P[:, :2], P[:, 2])
        self.fitted_on = n
        self.fit_seconds.append(time.perf_counter() - t0)

    # ---- prediction --------------------------------------------------------------------------
    def one_step(self, z: float, f: float) -> tuple[float, float] | None:
        """(mean, LOO sigma) of the next loss, or None before a model exists."""
        if self.full is not None and math.isfinite(f):
            return float(self.full @ [1.0, z, f]), self.s_full
        if self.reduced is not None:
            return float(self.reduced @ [1.0, z]), self.s_reduced
        return None

    def kappa(self, upto: int | None = None) -> float:
        u = np.abs(np.asarray(self.u[:upto] if upto is not None else self.u, dtype=float))
        if u.size == 0:
            return math.inf
        q = min(1.0, math.ceil((u.size + 1) * 0.9) / u.size)
        return max(float(np.quantile(u, q)) / Z90, 0.25)

    def score(self, mean: float, sigma: float, observed: float) -> None:
        if not (math.isfinite(observed) and math.isfinite(mean) and sigma > 0 and math.isfinite(sigma)):
            return
        u = (observed - mean) / sigma
        k = self.kappa()
        self.hits.append(bool(math.isfinite(k) and abs(u) <= Z90 * k))
        self.u.append(u)

    def coverage(self, window: int = 20) -> float:
        h = self.hits[-window:]
        return sum(h) / len(h) if h else 0.0

    def trusted(self) -> bool:
        return (self.reduced is not None and len(self.pairs) >= self.min_pairs
                and len(self.u) >= self.min_calib and self.coverage() >= self.min_coverage)

    # ---- state -------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"pairs": [list(p) for p in self.pairs], "u": self.u, "hits": self.hits,
                "fitted_on": self.fitted_on}

    def set_state(self, st: Mapping[str, Any]) -> None:
        self.pairs = [tuple(float(v) for v in p) for p in st["pairs"]]
        self.u = [float(v) for v in st["u"]]
        self.hits = [bool(v) for v in st["hits"]]
        self.full, self.reduced, self.fitted_on = None, None, 0
        if int(st["fitted_on"]) >= 3:  # refit on the same pairs: the same coefficients
            self._fit(int(st["fitted_on"]))


def chain(stages: list[Stage], j: int, h: int, z: float, f: float) -> tuple[float, float] | None:
    """Predictive (mean, calibrated std) of the loss at rung ``h > j`` (``h == len(stages)``: the
    final loss) of a trial at rung ``j`` with rung loss ``z`` and family extrapolation ``f``;
    None if a stage on the way has no model."""
    first = stages[j].one_step(z, f)
    if first is None:
        return None
    mean, s = first
    var = (stages[j].kappa() * s) ** 2 if stages[j].u else s * s
    for st in stages[j + 1:h]:
        if st.reduced is None:
            return None
        a, b = st.reduced
        k = st.kappa() if st.u else 1.0
        mean, var = a + b * mean, b * b * var + (k * st.s_reduced) ** 2
    return float(mean), float(math.sqrt(max(var, 0.0)))


def affine_chain(stages: list[Stage], j: int, h: int) -> tuple[float, float, float, float] | None:
    """:func:`chain` as one affine map for every trial at rung ``j``: ``(c0, cz, cf, sigma)`` with
    predicted mean ``c0 + cz * z + cf * f`` and the same calibrated std for all (the variance of a
    linear-Gaussian chain does not depend on the input).  Valid for a finite ``f`` when the first
    stage has its full model; None otherwise."""
    st = stages[j]
    if st.full is None:
        return None
    c0, cz, cf = (float(v) for v in st.full)
    var = (st.kappa() * st.s_full) ** 2 if st.u else st.s_full ** 2
    for nxt in stages[j + 1:h]:
        if nxt.reduced is None:
            return None
        a, b = (float(v) for v in nxt.reduced)
        k = nxt.kappa() if nxt.u else 1.0
        c0, cz, cf = a + b * c0, b * cz, b * cf
        var = b * b * var + (k * nxt.s_reduced) ** 2
    return c0, cz, cf, math.sqrt(max(var, 0.0))
