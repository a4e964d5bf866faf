"""End to end in subprocesses: the CLI on an embedded local Ray, the library from a user's script,
and the same experiment joining a real two-node cluster on loopback."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pandas as pd
import pytest

from conftest import PY, ROOT, run_cli

pytestmark = pytest.mark.ray


def test_cli_runs_replay_experiment_end_to_end(tmp_path):
    proc = run_cli("--space", "mlpf_delphes_replay.yaml", "--num-samples", "4", "--max-epochs", "8",
                   "--storage", str(tmp_path), "--name", "cli", "--num-cpus", "2", "--seed", "5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "[hpo] Ray dashboard: http://127.0.0.1:" in out
    assert "best loss =" in out and "best config: row=" in out
    d = tmp_path / "cli"
    trials = pd.read_parquet(d / "trials.parquet")
    assert len(trials) == 4 and (trials["epochs"] == 8).all()
    best = json.loads((d / "best.json").read_text())
    assert best["value"] == pytest.approx(trials["loss"].min())
    cfg = (d / "experiment.yaml").read_text()
    assert "num_samples: 4" in cfg and "max_epochs: 8" in cfg and "seed: 5" in cfg
    # An explicit --name that exists is refused before anything starts, nothing written.
    before = sorted(p.name for p in d.iterdir())
    again = run_cli("--space", "mlpf_delphes_replay.yaml", "--storage", str(tmp_path), "--name", "cli")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert sorted(p.name for p in d.iterdir()) == before


def test_library_call_from_a_separate_script(tmp_path):
    env = {**os.environ}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([PY, str(ROOT / "tests" / "scripts" / "library_example.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith(("BEST", "N_")))
    assert "'width'" in lines["BEST_CONFIG"] and float(lines["BEST_METRIC"]) < 2.0
    trials = pd.read_parquet(tmp_path / "lib" / "trials.parquet")
    assert len(trials) == 8
    assert set(trials["outcome"]) <= {"completed", "stopped_rung", "stopped_predictor", "not_promoted"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive_nodes(address: str, env: dict) -> int:
    code = "import ray; ray.init(address=%r, log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
    proc = subprocess.run([PY, "-c", code % address], capture_output=True, text=True, timeout=60,
                          env={**env, "RAY_AUTH_MODE": "token"})
    return int(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else 0


def test_two_node_cluster_on_loopback(tmp_path):
    """A head node and a second node (``ray start``, each with 1 CPU); trials must run on both.
    The nodes run with --block in their own process groups so teardown stops only them."""
    ray_bin = os.path.join(os.path.dirname(PY), "ray")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT / "tests" / "scripts")}
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen([ray_bin, "start", "--head", f"--port={port}", "--num-cpus=1", "--block",
                             "--dashboard-host=127.0.0.1", f"--dashboard-port={_free_port()}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    nodes_started = [head]
    try:
        deadline = time.monotonic() + 120
        while _alive_nodes(address, env) < 1:
            assert time.monotonic() < deadline, "head node did not start"
            time.sleep(2)
        # Joining a token-auth cluster needs RAY_AUTH_MODE=token (the service sets it for its driver).
        nodes_started.append(subprocess.Popen(
            [ray_bin, "start", f"--address={address}", "--num-cpus=1", "--block"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**env, "RAY_AUTH_MODE": "token"},
            start_new_session=True))
        while _alive_nodes(address, env) < 2:
            assert time.monotonic() < deadline, "second node did not join"
            time.sleep(2)
        out_dir = tmp_path / "nodes"
        out_dir.mkdir()
        space = tmp_path / "space.yaml"
        space.write_text(
            "trainable: {name: 'cluster_trainable:train', args: {out_dir: '%s', sleep: 1.0}}\n"
            "metric: loss\nmode: min\nhyperparameters: {x: {type: uniform, low: -1, high: 1}}\n"
            "budget: {num_samples: 4, max_epochs: 3}\nresources: {max_concurrent: 2}\nseed: 0\n" % out_dir)
        proc = run_cli("--space", str(space), "--address", address, "--storage", str(tmp_path / "r"),
                       "--name", "two", env={"PYTHONPATH": str(ROOT / "tests" / "scripts")})
        assert proc.returncode == 0, proc.stderr[-3000:]
        nodes = {p.read_text() for p in out_dir.iterdir()}
        assert len(list(out_dir.iterdir())) == 4
        assert len(nodes) == 2, f"trials ran on {len(nodes)} node(s)"
        assert len(pd.read_parquet(tmp_path / "r" / "two" / "trials.parquet")) == 4
    finally:
        for p in reversed(nodes_started):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)


def test_unreachable_address_is_bad_input(tmp_path):
    proc = run_cli("--space", "mlpf_delphes_replay.yaml", "--address", f"127.0.0.1:{_free_port()}",
                   "--storage", str(tmp_path), "--name", "x", timeout=120)
    assert proc.returncode == 2 and "address: no Ray cluster answers at" in proc.stderr
    assert not (tmp_path / "x").exists()
