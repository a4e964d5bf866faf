"""Small synthetic learning-curve tables for tests and smoke benchmarks (seeded, no files)."""
from __future__ import annotations

import numpy as np

from .table import CurveTable


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
