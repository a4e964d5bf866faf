"""Shared fixtures.  One Ray instance serves every in-process Ray test (``ray.init`` costs 5-13 s
on 2 cores); tests that need their own cluster (CLI subprocesses, the two-node cluster) start it
themselves."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from hpo.datasets import learning_curve_table

ROOT = Path(__file__).resolve().parent.parent
# The published MLPF table, found like the code finds it (HPO_SHARED, a shared folder beside the
# checkout, else the copy packaged in hpo/data/learning_curves/): a fresh clone has it.
MLPF_TABLE = learning_curve_table("mlpf_delphes")
PY = sys.executable
# Trial functions defined in test modules are pickled by module name: Ray's workers (and the CLI
# subprocesses' own Ray) must find every test folder, since the tests mirror the package tree.
TEST_DIRS = sorted({str(p.parent) for p in (ROOT / "tests").rglob("test_*.py")} | {str(ROOT / "tests")})
sys.path[1:1] = [d for d in TEST_DIRS if d not in sys.path]  # tests import helpers from each other's folders
os.environ["PYTHONPATH"] = os.pathsep.join(
    [*TEST_DIRS, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in TEST_DIRS)])

os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    from hpo.preflight import private_token_file
    from hpo.ray.cluster import SLOT

    private_token_file()  # as hpo.ray.cluster.connect does: Ray would create ~/.ray/auth_token 0644
    ctx = ray.init(address="local", num_cpus=2, resources={SLOT: 2}, include_dashboard=True,
                   dashboard_host="127.0.0.1", object_store_memory=400 * 1024 * 1024,
                   runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(ROOT), *TEST_DIRS])}})
    os.environ["RAY_ADDRESS"] = ctx.address_info["address"]
    yield ctx
    ray.shutdown()
    os.environ.pop("RAY_ADDRESS", None)


@pytest.fixture(scope="session")
def mlpf_table() -> Path:
    return MLPF_TABLE


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300, env: dict | None = None):
    """Run ``python -m hpo.run ARGS`` in a subprocess; returns CompletedProcess."""
    import subprocess

    e = {**os.environ, **(env or {})}
    e.pop("RAY_ADDRESS", None)
    return subprocess.run([PY, "-m", "hpo.run", *args], cwd=cwd or ROOT, capture_output=True, text=True,
                          timeout=timeout, env=e)
