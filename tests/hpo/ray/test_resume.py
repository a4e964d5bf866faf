"""Crash-safe resume, for real: a run is killed with SIGKILL mid-way and continued with --resume.

Synchronous Hyperband on the replay table makes the outcome exact: the plan fixes the epoch count
(R=16, eta=2: 43 trials, 278 epochs) and, with a seeded searcher, the configurations and the best
one; the resumed run must match an uninterrupted run with the same seed."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pandas as pd
import pytest

from conftest import MLPF_TABLE, PY, ROOT, run_cli

pytestmark = pytest.mark.ray

SPACE = """trainable: {name: replay, args: {table: %s, seconds_per_epoch: 0.15}}
metric: loss
mode: min
hyperparameters: {row: {type: int, low: 0, high: 295}}
budget: {max_epochs: 16}
scheduler: {name: hyperband, eta: 2}
resources: {max_concurrent: 2}
seed: 3
"""


def _read(d):
    return pd.read_parquet(d / "trials.parquet"), pd.read_parquet(d / "curves.parquet")


def test_kill_9_then_resume_matches_uninterrupted_run(tmp_path):
    space = tmp_path / "hb.yaml"
    space.write_text(SPACE % MLPF_TABLE)
    env = {**os.environ}
    env.pop("RAY_ADDRESS", None)
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen([PY, "-m", "hpo.run", "--space", str(space), "--storage", str(tmp_path),
                             "--name", "killed", "--num-cpus", "2"], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 240
    epochs = 0
    while epochs < 90:  # kill once a good part of the plan ran (progress lines every 10 s)
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "run made no progress"
        time.sleep(1)
        found = re.findall(r"\| epochs (\d+) \|", (tmp_path / "killed.log").read_text())
        epochs = int(found[-1]) if found else 0
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its embedded Ray, as a crash would
    proc.wait()
    log.close()
    assert not (tmp_path / "killed" / "trials.parquet").exists()  # it really died mid-way

    resumed = run_cli("--resume", str(tmp_path / "killed"), "--num-cpus", "2", timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.search(r"restored \d+ trials, [1-9]\d* reported epochs", resumed.stdout), resumed.stdout[-2000:]

    fast = tmp_path / "hb_fast.yaml"  # same experiment, no sleeping: only the wall time differs
    fast.write_text((SPACE % MLPF_TABLE).replace("seconds_per_epoch: 0.15", "seconds_per_epoch: 0"))
    full = run_cli("--space", str(fast), "--storage", str(tmp_path), "--name", "full", "--num-cpus", "2",
                   timeout=400)
    assert full.returncode == 0, full.stderr[-3000:]

    (kt, kc), (ft, fc) = _read(tmp_path / "killed"), _read(tmp_path / "full")
    assert len(kt) == len(ft) == 43 and kt["trial_id"].is_unique
    assert int(kt["epochs"].sum()) == int(ft["epochs"].sum()) == 278
    assert not kc.duplicated(["trial_id", "epoch"]).any()
    assert sorted(kt["row"]) == sorted(ft["row"])  # same configurations
    assert (kt["outcome"] == "completed").sum() == (ft["outcome"] == "completed").sum()
    best_k = kt.loc[kt[kt.epochs == 16]["loss"].idxmin()]
    best_f = ft.loc[ft[ft.epochs == 16]["loss"].idxmin()]
    assert best_k["row"] == best_f["row"] and best_k["loss"] == pytest.approx(best_f["loss"])


def test_resume_rejects_a_directory_without_an_experiment(tmp_path):
    proc = run_cli("--resume", str(tmp_path), timeout=120)
    assert proc.returncode == 2 and "not an hpo results directory" in proc.stderr
    proc = run_cli("--resume", str(tmp_path), "--max-epochs", "3", timeout=120)
    assert proc.returncode == 2 and "takes only --address and --num-cpus" in proc.stderr
