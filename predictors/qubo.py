"""QUBO encoding of the epsilon-SVR dual for quantum / simulated annealing.

Formulation from Pasetto, Riedel, Melgani, Michielsen, Cavallaro, "Quantum SVR for Chlorophyll
Concentration Estimation in Water With Remote Sensing", IEEE GRSL 19 (2022), building on the
binary encoding of Willsch et al., "Support vector machines on the D-Wave quantum annealer",
Comput. Phys. Commun. 248 (2020).  The dual, written as a minimisation with the equality
constraint sum(alpha - alpha_hat) = 0 replaced by a quadratic penalty, is

    E(alpha, alpha_hat) = 1/2 sum_nm c_n c_m k(x_n, x_m) + eps sum_n (alpha_n + alpha_hat_n)
                          - sum_n y_n c_n + xi (sum_n c_n)^2 + beta sum_n alpha_n alpha_hat_n,

with c = alpha - alpha_hat.  Each coefficient is encoded with K bits,
alpha_n = sum_i B**(i - k0) a[K*n + i] (and alpha_hat_n likewise in the second half), so a problem
with N points has 2*K*N binary variables and the implied box constraint is
C_eff = sum_i B**(i - k0).  Everything is built with vectorised numpy: the dense coupling matrix
is an outer product, never a Python loop over the K^2 N^2 pairs.
"""
from __future__ import annotations

from dataclasses import dataclass

import dimod
import numpy as np


def bit_weights(num_bits: int, base: float, k0: float) -> np.ndarray:
    """Weight of each bit of one coefficient: base**(i - k0), i = 0..num_bits-1."""
    return base ** (np.arange(num_bits, dtype=float) - k0)


def effective_c(num_bits: int, base: float, k0: float) -> float:
    """Largest value a coefficient can take: the box constraint the encoding implies."""
    return float(bit_weights(num_bits, base, k0).sum())


def rbf_kernel(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """exp(-gamma * ||a - b||^2) for every row pair of A and B."""
    sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.exp(-gamma * np.maximum(sq, 0.0))


@dataclass(frozen=True)
class SVRQubo:
    """The QUBO of one training set: ``energy(a) = a @ upper @ a + linear @ a`` (no offset)."""

    linear: np.ndarray      # (V,) biases, the QUBO diagonal
    upper: np.ndarray       # (V, V) strictly upper-triangular couplings
    num_points: int
    num_bits: int
    weights: np.ndarray     # (K,) bit weights

    @property
    def num_variables(self) -> int:
        return self.linear.size

    def to_bqm(self) -> dimod.BinaryQuadraticModel:
        return dimod.BinaryQuadraticModel(self.linear, self.upper, 0.0, dimod.BINARY)

    def energies(self, bits: np.ndarray) -> np.ndarray:
        """QUBO energy of each row of ``bits`` (S x V or V)."""
        a = np.atleast_2d(np.asarray(bits, dtype=float))
        return np.einsum("sv,vw,sw->s", a, self.upper, a) + a @ self.linear

    def decode(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(alpha, alpha_hat), each (S x N), from bit rows (S x V)."""
        a = np.atleast_2d(np.asarray(bits, dtype=float))
        a = a.reshape(a.shape[0], 2, self.num_points, self.num_bits)
        coeff = a @ self.weights
        return coeff[:, 0, :], coeff[:, 1, :]


def build_svr_qubo(kernel: np.ndarray, y: np.ndarray, *, num_bits: int = 3, base: float = 0.5,
                   k0: float = 0.005, epsilon: float = 0.02, xi: float = 0.01,
                   beta: float = 0.0) -> SVRQubo:
    """QUBO for the penalised epsilon-SVR dual over ``kernel`` (N x N) and targets ``y`` (N,).

    Variable index of bit i of point n: K*(s*N + n) + i with s = 0 for alpha, 1 for alpha_hat.
    """
    kernel = np.asarray(kernel, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    n = y.size
    if kernel.shape != (n, n):
        raise ValueError(f"kernel must be {n}x{n}, got {kernel.shape}")
    w = bit_weights(num_bits, base, k0)
    sign = np.repeat([1.0, -1.0], n * num_bits)                  # alpha bits +, alpha_hat bits -
    p = sign * np.tile(w, 2 * n)                                  # c_n = sum_u p_u a_u over n's bits
    point = np.tile(np.repeat(np.arange(n), num_bits), 2)         # point index of each variable
    m = 0.5 * kernel + xi                                         # quadratic form in c
    full = np.outer(p, p) * m[np.ix_(point, point)]               # symmetric Q~ (a^T Q~ a)
    if beta:
        half = n * num_bits
        full[:half, half:] += 0.5 * beta * np.kron(np.eye(n), np.outer(w, w))
        full[half:, :half] += 0.5 * beta * np.kron(np.eye(n), np.outer(w, w))
    linear = epsilon * np.abs(p) - y[point] * p + np.diag(full)   # a_u^2 = a_u
    upper = np.triu(full + full.T, k=1)
    return SVRQubo(linear=linear, upper=upper, num_points=n, num_bits=num_bits, weights=w)


def dual_objective(alpha: np.ndarray, alpha_hat: np.ndarray, kernel: np.ndarray, y: np.ndarray,
                   *, epsilon: float, xi: float, beta: float = 0.0) -> float:
    """The penalised epsilon-SVR dual E(alpha, alpha_hat), computed directly (for checks)."""
    c = np.asarray(alpha, float) - np.asarray(alpha_hat, float)
    return float(0.5 * c @ kernel @ c + epsilon * np.sum(alpha + alpha_hat) - np.dot(y, c)
                 + xi * c.sum() ** 2 + beta * np.dot(alpha, alpha_hat))
