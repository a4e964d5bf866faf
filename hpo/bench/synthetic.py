"""Small synthetic learning-curve tables for tests and smoke benchmarks (seeded, no files)."""
from __future__ import annotations

import numpy as np

from .table import CurveTable

STRESS_KINDS = ("smooth", "crossing", "overfit")


def synthetic_table(rows: int = 40, epochs: int = 16, seed: int = 0) -> CurveTable:
    """Curves ``a + b * exp(-t / tau) + noise``: different asymptotes and speeds, so curves cross."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1)
    a = rng.uniform(1.0, 2.0, (rows, 1))
    b = rng.uniform(0.5, 3.0, (rows, 1))
    tau = rng.uniform(1.0, max(epochs / 2, 1.5), (rows, 1))
    curves = a + b * np.exp(-t / tau) + rng.normal(0.0, 0.02, (rows, epochs))
    return CurveTable(f"<synthetic rows={rows} epochs={epochs} seed={seed}>", ("a", "b", "tau"),
                      np.column_stack([a[:, 0], b[:, 0], tau[:, 0]]), curves)


def table_from_curves(curves: list[list[float]]) -> CurveTable:
    """A table whose row i is ``curves[i]`` (hand-computed test cases)."""
    arr = np.asarray(curves, dtype=float)
    return CurveTable("<hand>", ("row",), np.arange(len(arr), dtype=float)[:, None], arr)


def stress_table(kind: str, rows: int = 300, epochs: int = 50, noise: float = 0.001, seed: int = 0) -> CurveTable:
    """A table whose early leaders do not end best (``benchmarks/stress_tables.py`` says more):
    ``smooth`` (epoch 1 favours large ``lr``, the best finals have ``lr`` 0.7-0.8), ``crossing``
    (epoch 1 favours small ``lr``, the best finals have ``lr`` 0.2-0.3) and ``overfit`` (``smooth``
    whose losses rise after an epoch set by ``wd``)."""
    if kind not in STRESS_KINDS:
        raise ValueError(f"kind must be one of {STRESS_KINDS}, got {kind!r}")
    g = np.random.default_rng(seed)
    X = g.uniform(0.0, 1.0, (rows, 3))
    lr, wd, width = X[:, :1], X[:, 1:2], X[:, 2:]
    t = np.arange(1, epochs + 1)[None, :]
    floor = 0.3 + 0.3 * (lr - 0.6) ** 2 + 0.2 * (width - 0.4) ** 2
    if kind == "crossing":
        curves = 0.8 * floor + 2.0 * np.exp(-t / (2 + 40 * lr)) - 0.2 * lr
    else:
        curves = floor + np.exp(-t / (2 + 30 * (1 - lr)))
    if kind == "overfit":
        curves = curves + 0.004 * np.maximum(0.0, t - (10 + 40 * wd)) * (1 - wd)
    curves = curves + g.normal(0.0, noise, curves.shape)
    return CurveTable(path=f"<stress {kind}>", hyperparameters=("lr", "wd", "width"), params=X, curves=curves)
