"""Samplers that minimise the Q-SVR QUBO: simulated annealing, exact enumeration, a D-Wave QPU.

* ``sa``: ``dwave.samplers.SimulatedAnnealingSampler`` (open source; the stand-in used for every
  result of this project, since no annealer is reachable here);
* ``exact``: ``dimod.ExactSolver`` (brute force; only for tiny problems and tests, <= 24 variables);
* ``qpu``: ``dwave.system.DWaveSampler`` behind an embedding composite (needs the ``qpu`` extra,
  i.e. dwave-system, and a D-Wave token from ``DWAVE_API_TOKEN`` or D-Wave's own configuration
  file).  Asking for the QPU without them is a ``ConfigError``: never a silent switch to SA.
  The QPU path follows the published setup (Wulff et al., Quantum Machine Intelligence 6, 59,
  2024: dense clique embedding cached per problem size, chain strength 10 x ceil(max |Q|),
  20 us anneals) but has not been run in this project (no QPU access).
"""
from __future__ import annotations

import importlib.util
import logging
import math
import os
from typing import Any, Callable

import dimod
import numpy as np

from hpo.errors import ConfigError

log = logging.getLogger(__name__)

SAMPLERS = ("sa", "exact", "qpu")
EXACT_MAX_VARIABLES = 24
_QPU_COMPOSITES: dict[int, Any] = {}   # problem size -> composite with a cached embedding


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _configured_token() -> str | None:
    """The D-Wave token from the environment or D-Wave's own config file (never from ours)."""
    token = os.environ.get("DWAVE_API_TOKEN")
    if token:
        return token
    try:
        from dwave.cloud.config import load_config  # part of dwave-cloud-client (qpu extra)
    except ImportError:
        return None
    try:
        return load_config().get("token") or None
    except Exception as exc:  # noqa: BLE001 - a broken config file means "no usable token"
        log.warning("could not read the D-Wave configuration: %s", exc)
        return None


def qpu_problem(module_available: Callable[[str], bool] = _module_available,
                token: Callable[[], str | None] = _configured_token) -> str | None:
    """Why the QPU cannot be used (one sentence), or None when it can."""
    if not module_available("dwave.system"):
        return ("sampler 'qpu' needs the D-Wave Ocean 'dwave-system' package: install the "
                "project's qpu extra (pip install 'hpo[qpu]'), or use sampler 'sa'")
    if not token():
        return ("sampler 'qpu' needs a D-Wave token: set DWAVE_API_TOKEN or run 'dwave config "
                "create' (tokens are never read from experiment files), or use sampler 'sa'")
    return None


def check_sampler(name: str, key: str = "predictor.sampler") -> None:
    """Raise ConfigError if sampler ``name`` is unknown or cannot run here."""
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}", key)
    if name == "qpu":
        problem = qpu_problem()
        if problem:
            raise ConfigError(problem, key)


def sample_qubo(bqm: dimod.BinaryQuadraticModel, sampler: str, *, num_reads: int,
                num_sweeps: int, beta_range: tuple[float, float] | None, seed: int | None,
                qpu_annealing_time: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``bqm``; return (bit rows ordered like variables 0..V-1, energies)."""
    check_sampler(sampler)
    if sampler == "sa":
        from dwave.samplers import SimulatedAnnealingSampler

        kwargs: dict[str, Any] = dict(num_reads=num_reads, num_sweeps=num_sweeps)
        if beta_range is not None:
            kwargs["beta_range"] = tuple(beta_range)
        if seed is not None:
            kwargs["seed"] = int(seed) % (2 ** 31 - 1)
        sampleset = SimulatedAnnealingSampler().sample(bqm, **kwargs)
    elif sampler == "exact":
        if bqm.num_variables > EXACT_MAX_VARIABLES:
            raise ValueError(f"exact solver is limited to {EXACT_MAX_VARIABLES} variables, "
                             f"the QUBO has {bqm.num_variables}")
        sampleset = dimod.ExactSolver().sample(bqm)
    else:
        sampleset = _sample_qpu(bqm, num_reads=num_reads, annealing_time=qpu_annealing_time)
    order = [sampleset.variables.index(v) for v in range(bqm.num_variables)]
    bits = np.asarray(sampleset.record.sample, dtype=np.int8)[:, order]
    energies = np.asarray(sampleset.record.energy, dtype=float)
    if "num_occurrences" in sampleset.record.dtype.names:   # aggregated QPU answers
        counts = sampleset.record.num_occurrences
        bits, energies = np.repeat(bits, counts, axis=0), np.repeat(energies, counts)
    return bits, energies


def _sample_qpu(bqm: dimod.BinaryQuadraticModel, *, num_reads: int,
                annealing_time: float) -> dimod.SampleSet:  # pragma: no cover - needs a QPU
    from dwave.system import DWaveSampler, LazyFixedEmbeddingComposite

    size = bqm.num_variables
    if size not in _QPU_COMPOSITES:    # dense problems of one size share one clique embedding
        _QPU_COMPOSITES[size] = LazyFixedEmbeddingComposite(DWaveSampler())
    max_bias = max(max(abs(b) for b in bqm.linear.values()),
                   max((abs(b) for b in bqm.quadratic.values()), default=0.0))
    chain_strength = 10.0 * math.ceil(max_bias)
    return _QPU_COMPOSITES[size].sample(bqm, num_reads=num_reads, annealing_time=annealing_time,
                                        chain_strength=chain_strength, label="hpo-qsvr")
