"""Trial faults stay inside the trial (issue 15 item 4, issue 14 item 3).

A trial that reports without the objective's key, with a non-numeric value, or raises, fails that
trial only: the run completes and writes its results, the reason (the expected key and the keys
reported, the bad value, the exception's type and message with its log) reaches ``trials.parquet``,
and the console carries one line per failure reason instead of Ray's tracebacks."""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import hpo
from conftest import PY, ROOT
from hpo.protocols import Outcome
from hpo.ray.callbacks import HpoCallback, trial_error
from hpo.ray.runtime import FAULT_KEY, metric_fault
from hpo.service import failure_lines


# ---- no Ray -----------------------------------------------------------------------------------
def test_metric_fault_names_the_expected_key_and_the_keys_reported():
    why = metric_fault({"val_loss": 1.0, "acc": 0.5, "hpo_epoch": 1}, "loss")
    assert "'loss'" in why and "acc, val_loss" in why and "hpo_epoch" not in why
    assert "not a number" in metric_fault({"loss": "0.5"}, "loss") and "'0.5'" in metric_fault({"loss": "0.5"}, "loss")
    assert "not a number" in metric_fault({"loss": None}, "loss")
    assert "not a number" in metric_fault({"loss": True}, "loss")
    for ok in (0.5, 3, np.float32(0.5), float("nan")):  # NaN is the non-finite path, not a fault
        assert metric_fault({"loss": ok}, "loss") is None
    assert metric_fault({"anything": 1}, None) is None


class _RayTaskError(Exception):
    """Stands in for Ray's RayTaskError: the user's exception is its ``cause``."""

    def __init__(self, cause):
        super().__init__("ray::ImplicitFunc.train() (pid=1)\nTraceback ...")
        self.cause = cause


def _fake_trial(exc, tmp_path):
    return SimpleNamespace(get_pickled_error=lambda: exc, pickled_error_file=None, run_metadata=SimpleNamespace(error_filename="error.txt"),
                           storage=SimpleNamespace(trial_fs_path=str(tmp_path / "t0")), error_file=None,
                           local_path=None, trial_id="t0", config={"x": 1.0})


def test_trial_error_gives_the_real_type_message_and_the_kept_log(tmp_path):
    text = trial_error(_fake_trial(_RayTaskError(ValueError("bad shape (3, 4)\n")), tmp_path))
    assert text == f"ValueError: bad shape (3, 4) (log: {tmp_path / 't0' / 'error.txt'})"

    def unreadable():
        raise OSError("gone")
    trial = _fake_trial(None, tmp_path)
    trial.get_pickled_error = unreadable
    assert trial_error(trial).startswith("trial raised an error (log: ")


def test_callback_records_a_fault_report_as_a_failure_and_prints_one_line(tmp_path, capsys):
    from hpo import results
    from hpo.ray.watchdog import StallGuard

    store = results.CurveStore("loss", "min")
    cb = HpoCallback(store, tmp_path, scheduler=None, guard=StallGuard())
    why = "reported no 'loss' (the experiment's metric); keys reported: val_loss"
    for tid in ("t0", "t1"):
        trial = SimpleNamespace(trial_id=tid, config={"x": 1.0})
        cb.on_trial_result(0, [], trial, {"loss": float("nan"), "hpo_epoch": 1, FAULT_KEY: why})
        cb.on_trial_complete(0, [], trial)
    assert cb.statuses == {"t0": "ERROR", "t1": "ERROR"} and cb.errors["t1"] == why
    assert store.rows == [] and store.trials["t0"]["epochs"] == 0  # the fault is not an epoch
    assert capsys.readouterr().out.count("val_loss") == 1  # the same reason is printed once
    table = results.trials_table(store, space_keys=["x"], max_epochs=3, statuses=cb.statuses, errors=cb.errors,
                                 reasons={})
    assert list(table["outcome"]) == ["failed", "failed"]
    assert failure_lines(table) == [f"2 trials (t0, t1) failed: failed, epoch 0: {why}"]


# ---- Ray, in process ----------------------------------------------------------------------------
def faulty(config):
    kind = config["kind"]
    for epoch in range(config["max_epochs"]):
        if kind == "raise":
            raise ZeroDivisionError("the detector ran out of hits")
        if kind == "wrong_key":
            hpo.report(val_loss=1.0)
        elif kind == "text":
            hpo.report(loss="n/a")
        else:
            hpo.report(loss=config["x"] + 1.0 / (epoch + 1))


@pytest.mark.ray
@pytest.mark.parametrize("scheduler", ["asha", "fifo"])
def test_bad_trials_fail_alone_and_the_run_writes_its_results(ray_cluster, tmp_path, scheduler):
    space = {"kind": hpo.choice(["ok", "wrong_key", "text", "raise"]), "x": hpo.choice([0.5])}
    res = hpo.tune(faulty, space=space, metric="loss", mode="min", max_epochs=3, scheduler=scheduler,
                   search="grid", seed=0, storage=str(tmp_path), name=scheduler, verbose=False)
    t = res.trials.set_index("kind")
    assert t.loc["ok", "outcome"] == Outcome.COMPLETED.value and t.loc["ok", "epochs"] == 3
    for kind in ("wrong_key", "text", "raise"):
        assert t.loc[kind, "outcome"] == Outcome.FAILED.value, t.loc[kind].to_dict()
    assert "reported no 'loss'" in t.loc["wrong_key", "stop_reason"] and "val_loss" in t.loc["wrong_key", "stop_reason"]
    assert "'loss' is not a number: 'n/a'" in t.loc["text", "stop_reason"] and t.loc["text", "epochs"] == 0
    assert "ZeroDivisionError: the detector ran out of hits" in t.loc["raise", "stop_reason"]
    log = t.loc["raise", "stop_reason"].split("(log: ", 1)[1].rstrip(")")
    assert log.startswith(str(tmp_path)) and "ZeroDivisionError" in open(log).read()
    on_disk = pd.read_parquet(tmp_path / scheduler / "trials.parquet")
    assert len(on_disk) == 4 and (on_disk["outcome"] == "failed").sum() == 3
    assert json.loads((tmp_path / scheduler / "best.json").read_text())["config"]["kind"] == "ok"


# ---- a user's script, as a user runs it ---------------------------------------------------------
SCRIPT = """
import hpo

def train(config):
    for epoch in range(config["max_epochs"]):
        hpo.report(val_loss=config["x"] / (epoch + 1))

if __name__ == "__main__":
    hpo.tune(train, space={"x": hpo.uniform(0, 1)}, metric="loss", mode="min", num_samples=4,
             max_epochs=2, storage=%r, name="wrong", num_cpus=2, seed=0)
"""


@pytest.mark.ray
def test_wrong_metric_key_in_a_script_is_a_short_error(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT % str(tmp_path)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key in ("RAY_ADDRESS", "TUNE_PRINT_ALL_TRIAL_ERRORS", "RAY_AIR_NEW_OUTPUT"):
        env.pop(key, None)
    proc = subprocess.run([PY, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    about = [line for line in out.splitlines() if "val_loss" in line or "Traceback" in line or "tune.report" in line]
    assert 1 <= len(about) <= 5, out
    assert all("'loss'" in line and "val_loss" in line for line in about), about
    assert "Traceback" not in out and "TuneError" not in out
    trials = pd.read_parquet(tmp_path / "wrong" / "trials.parquet")
    assert len(trials) == 4 and set(trials["outcome"]) == {"failed"}
