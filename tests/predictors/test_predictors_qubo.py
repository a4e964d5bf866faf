"""The Q-SVR QUBO equals the penalised SVR dual, and annealing finds its exact optimum."""
from __future__ import annotations

import dimod
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from predictors.qubo import (bit_weights, build_svr_qubo, dual_objective, effective_c,
                             rbf_kernel)
from predictors.samplers import sample_qubo


@st.composite
def problems(draw):
    n = draw(st.integers(1, 6))
    k = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, draw(st.integers(1, 5))))
    y = rng.normal(size=n)
    params = dict(num_bits=k, base=draw(st.floats(0.2, 2.0)), k0=draw(st.floats(-1.0, 1.0)),
                  epsilon=draw(st.floats(0.0, 0.5)), xi=draw(st.floats(0.0, 1.0)),
                  beta=draw(st.sampled_from([0.0, draw(st.floats(0.0, 2.0))])))
    gamma = draw(st.floats(0.01, 2.0))
    bits = rng.integers(0, 2, size=(draw(st.integers(1, 8)), 2 * k * n))
    return X, y, gamma, params, bits


@settings(max_examples=200, deadline=None)
@given(problems())
def test_bqm_energy_equals_penalised_dual(problem):
    X, y, gamma, params, bits = problem
    kernel = rbf_kernel(X, X, gamma)
    qubo = build_svr_qubo(kernel, y, **params)
    alpha, alpha_hat = qubo.decode(bits)
    direct = [dual_objective(a, ah, kernel, y, epsilon=params["epsilon"], xi=params["xi"],
                             beta=params["beta"]) for a, ah in zip(alpha, alpha_hat)]
    bqm = qubo.to_bqm()
    via_bqm = bqm.energies((bits, list(range(qubo.num_variables))))
    np.testing.assert_allclose(via_bqm, direct, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(qubo.energies(bits), direct, rtol=1e-9, atol=1e-9)
    assert bqm.num_variables == 2 * params["num_bits"] * y.size


def test_decoding_follows_the_published_index_layout():
    n, k = 3, 3
    qubo = build_svr_qubo(np.eye(n), np.zeros(n), num_bits=k, base=0.5, k0=0.005)
    bits = np.zeros(2 * k * n, dtype=int)
    bits[k * 1 + 2] = 1            # alpha_1, bit 2
    bits[k * (n + 2) + 0] = 1      # alpha_hat_2, bit 0
    alpha, alpha_hat = qubo.decode(bits)
    w = bit_weights(k, 0.5, 0.005)
    np.testing.assert_allclose(alpha[0], [0, w[2], 0])
    np.testing.assert_allclose(alpha_hat[0], [0, 0, w[0]])
    assert abs(effective_c(3, 0.5, 0.005) - 1.7561) < 1e-3     # published C_eff


def test_simulated_annealing_finds_the_exact_optimum_of_a_tiny_problem():
    rng = np.random.default_rng(7)
    X, y = rng.random((3, 4)), rng.random(3)
    qubo = build_svr_qubo(rbf_kernel(X, X, 0.1), y, num_bits=2, epsilon=0.02, xi=0.01)
    bqm = qubo.to_bqm()
    exact = dimod.ExactSolver().sample(bqm).first
    bits, energies = sample_qubo(bqm, "sa", num_reads=50, num_sweeps=200, beta_range=None, seed=3)
    best = bits[np.argmin(energies)]
    np.testing.assert_allclose(energies.min(), exact.energy, rtol=1e-9, atol=1e-12)
    exact_bits = np.array([exact.sample[v] for v in range(bqm.num_variables)])
    np.testing.assert_array_equal(best, exact_bits)
    # and the exact sampler path of our own wrapper agrees
    ebits, eenergies = sample_qubo(bqm, "exact", num_reads=1, num_sweeps=1, beta_range=None,
                                   seed=None)
    np.testing.assert_allclose(eenergies.min(), exact.energy)
