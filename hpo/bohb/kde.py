"""Product-kernel density estimate over the BOHB unit cube (mixed continuous / categorical).

Continuous coordinates use a Gaussian kernel truncated to [0, 1] with a normal-reference
(Scott-style) bandwidth per dimension, floored at ``min_bandwidth`` and (by default) at
``1 / min(100, n + 1)`` as in Optuna's TPE (Akiba et al., KDD 2019); categorical coordinates use
an Aitchison–Aitken kernel.  This is the model family BOHB fits to the good and bad observations
of a budget (Falkner, Klein & Hutter, ICML 2018, section 4, following the TPE of Bergstra et
al., NeurIPS 2011).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class ProductKDE:
    """Fit on rows ``points`` (n × d); ``categories[j]`` > 0 marks a categorical column."""

    def __init__(self, points: np.ndarray, categories: np.ndarray, min_bandwidth: float,
                 adaptive_floor: bool = True):
        self.points = np.asarray(points, dtype=float)
        self.categories = np.asarray(categories, dtype=int)
        n, d = self.points.shape
        if n == 0:
            raise ValueError("a kernel density estimate needs at least one point")
        self.cont = self.categories == 0
        factor = n ** (-1.0 / (4 + d))
        bw = np.empty(d)
        std = self.points.std(axis=0, ddof=1) if n > 1 else np.zeros(d)
        bw[self.cont] = 1.06 * std[self.cont] * factor
        # Aitchison–Aitken: lambda = probability mass moved off a point's own category; it shrinks
        # as points accumulate and never exceeds the uniform value (c-1)/c.
        c = self.categories[~self.cont].astype(float)
        bw[~self.cont] = (c - 1) / np.maximum(c, 1) * min(1.0, 1.0 / math.sqrt(n + 1))
        # With few points the normal-reference bandwidth collapses onto a tight cluster of good
        # points and exploration stops; like Optuna's TPE ("magic clip") the floor is then
        # 1 / min(100, n + 1) of the unit range.  adaptive_floor=False gives hpbandster's behaviour.
        floor = max(min_bandwidth, 1.0 / min(100, n + 1)) if adaptive_floor else min_bandwidth
        bw[self.cont] = np.clip(bw[self.cont], floor, None)
        bw[~self.cont] = np.where(c > 1, np.clip(bw[~self.cont], min_bandwidth, None), 0.0)
        self.bandwidth = bw

    def _scaled(self, factor: float) -> np.ndarray:
        bw = self.bandwidth * factor
        c = self.categories[~self.cont]
        bw[~self.cont] = np.minimum(bw[~self.cont], (c - 1) / np.maximum(c, 1))
        return bw

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Log density at each row of ``x`` (m × d)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        total = np.zeros((x.shape[0], self.points.shape[0]))
        bw = self.bandwidth
        for j in range(x.shape[1]):
            xj, pj = x[:, j][:, None], self.points[:, j][None, :]
            if self.cont[j]:
                h = bw[j]
                mass = ndtr((1.0 - pj) / h) - ndtr(-pj / h)  # truncation to [0, 1]
                z = (xj - pj) / h
                total += -0.5 * z * z - _LOG_SQRT_2PI - math.log(h) - np.log(np.maximum(mass, 1e-300))
            else:
                c, lam = self.categories[j], bw[j]
                same = np.isclose(xj, pj)
                if c > 1:
                    total += np.where(same, math.log(1.0 - lam), math.log(lam / (c - 1)))
                # c == 1: a single category carries no information (log 1 = 0)
        return logsumexp(total, axis=1) - math.log(self.points.shape[0])

    def sample(self, rng: np.random.Generator, m: int, widen: float) -> np.ndarray:
        """``m`` rows: a random fitted point each, perturbed with bandwidths times ``widen``."""
        n, d = self.points.shape
        centres = self.points[rng.integers(0, n, size=m)]
        bw = self._scaled(widen)
        out = centres.copy()
        for j in range(d):
            mu = centres[:, j]
            if self.cont[j]:
                h = bw[j]
                lo, hi = ndtr(-mu / h), ndtr((1.0 - mu) / h)
                u = lo + rng.random(m) * (hi - lo)
                out[:, j] = np.clip(mu + h * ndtri(np.clip(u, 1e-300, 1 - 1e-16)), 0.0, 1.0)
            else:
                c, lam = int(self.categories[j]), bw[j]
                move = rng.random(m) < lam
                shift = rng.integers(1, max(c, 2), size=m)  # uniform over the other categories
                out[:, j] = np.where(move & (c > 1), (mu + shift) % max(c, 1), mu)
        return out
