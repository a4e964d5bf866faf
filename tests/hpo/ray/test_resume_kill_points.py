"""Kill at injected points, then ``--resume`` (issue 15: crash consistency, ASHA/Swift resume).

The driver is ended by ``HPO_TEST_KILL_AT=POINT:N`` (``os._exit`` at the N-th pass through POINT:
after a result is recorded, after a trial completes, at a Tune snapshot before and after our record,
inside the atomic write of the record, after the run before its results are written).  Its Ray is
then killed with it, as a crash would.

"Exact" for a scheduler running 2 trials at once (ASHA, Swift) cannot mean "the same run as an
uninterrupted one": which trial reports first depends on timing.  It means:

* nothing recorded is lost: every trial in the last complete record (``hpo_state.json`` at the kill)
  is in the final table, every epoch value it recorded is in the final curves unchanged, and a trial
  it recorded as ended has at least as many epochs;
* the continuation is valid: the planned number of trials, each ended (no ``unfinished``), epochs
  1..n reported once each and never beyond ``max_epochs``, a completed trial at ``max_epochs``, and a
  trial stopped at a rung has exactly that rung's epochs;
* and the resume never exits 0 with less than was there; it may refuse (exit 2, one line, nothing
  written) only when the kill came before Tune's first snapshot reached the results directory
  (then no trial had ended in the record either).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pandas as pd
import pytest

from conftest import MLPF_TABLE, PY, ROOT, run_cli

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPACE = """trainable: {name: replay, args: {table: %s, seconds_per_epoch: 0.1}}
metric: loss
mode: min
hyperparameters: {row: {type: int, low: 0, high: 295}}
budget: {num_samples: 24, max_epochs: 9}
scheduler: %s
resources: {max_concurrent: 2}
seed: 5
"""
SCHEDULERS = {"asha": "{name: asha, eta: 3}", "swift": "{name: swift, eta: 3, d: 3}\npredictor: {name: svr}",
              "hyperband": "{name: hyperband, eta: 3}",
              "predictive": "{name: predictive, eta: 3, min_pairs: 3, min_calib: 1, min_coverage: 0.0}"}
POINTS = ["result:3", "result:10", "result:20", "result:30", "result:40",
          "complete:1", "complete:3", "complete:6", "complete:9",
          "snapshot:1", "snapshot:2", "snapshot:3", "snapshot:4", "snapshot:5",
          "hpo_state_write:1", "hpo_state_write:2", "hpo_state_write:4",
          "after_snapshot:1", "after_snapshot:3", "after_snapshot:5", "finish:1"]


def _killed_run(tmp_path, scheduler: str, point: str):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE % (MLPF_TABLE, SCHEDULERS[scheduler]))
    # a Tune snapshot every second (default: adaptive, a few per run) so that kills land at and
    # between many of them
    env = {**os.environ, "HPO_TEST_KILL_AT": point, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    env.pop("RAY_ADDRESS", None)
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen([PY, "-m", "hpo.run", "--space", str(space), "--storage", str(tmp_path), "--name",
                                 "run", "--num-cpus", "2"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
        code = proc.wait(timeout=400)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the embedded Ray dies with its driver, as in a crash
    except ProcessLookupError:
        pass
    return code, tmp_path / "run"


def _planned(scheduler: str) -> int:
    from hpo import components

    options = {"asha": {"eta": 3}, "swift": {"eta": 3, "d": 3}, "hyperband": {"eta": 3},
               "predictive": {"eta": 3}}[scheduler]
    return components.spec("scheduler", scheduler).planned_trials(options, 9) or 24


def check_resume(tmp_path, scheduler: str, point: str, tear=None) -> str:
    """``tear(d)``: damage Tune's snapshot after the kill; the resume must then fall back to our record."""
    code, d = _killed_run(tmp_path, scheduler, point)
    assert code == 137, (point, (tmp_path / "killed.log").read_text()[-3000:])
    record = json.loads((d / "hpo_state.json").read_text()) if (d / "hpo_state.json").exists() else None
    if tear is not None:
        assert record and record["store"]["trials"], "the kill came before a record of any trial"
        tear(d)
    before = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    resumed = run_cli("--resume", str(d), "--num-cpus", "2", timeout=400)
    if tear is not None:
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "falling back to our last complete record" in resumed.stdout, resumed.stdout[-3000:]
        assert len(list(d.glob("torn-tune-snapshot-*"))) == 1
    if resumed.returncode == 2:  # allowed only without a first snapshot, and then nothing changed
        assert not (record or {}).get("statuses") and "before its first one" in resumed.stderr, resumed.stderr
        assert len(resumed.stderr.strip().splitlines()) == 1
        assert {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()} == before
        return "refused"
    assert resumed.returncode == 0, (point, resumed.stderr[-3000:])
    trials, curves = pd.read_parquet(d / "trials.parquet"), pd.read_parquet(d / "curves.parquet")
    # the continuation is valid
    assert len(trials) == _planned(scheduler) and trials["trial_id"].is_unique, trials
    assert not (trials["outcome"] == "unfinished").any() and not (trials["outcome"] == "failed").any(), trials
    assert not curves.duplicated(["trial_id", "epoch"]).any()
    assert (trials["epochs"] <= 9).all() and (trials.loc[trials.outcome == "completed", "epochs"] == 9).all()
    for row in trials.itertuples():
        mine = curves[curves.trial_id == row.trial_id].sort_values("epoch")
        assert list(mine["epoch"]) == list(range(1, row.epochs + 1)), row
        if row.outcome == "stopped_rung":
            assert row.epochs == row.stop_rung
    # nothing recorded is lost
    if record is not None:
        final = {(r.trial_id, int(r.epoch)): r.loss for r in curves.itertuples()}
        for r in record["store"]["rows"]:
            assert final.get((r["trial_id"], int(r["epoch"]))) == pytest.approx(r["loss"]), (point, r)
        ended = {t for t, s in record["statuses"].items() if s == "TERMINATED"}
        epochs = dict(zip(trials.trial_id, trials.epochs))
        for tid, t in record["store"]["trials"].items():
            assert tid in epochs and (tid not in ended or epochs[tid] >= t["epochs"]), (point, tid)
    return "resumed"


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_an_injected_point_then_resume_loses_nothing(tmp_path, point):
    check_resume(tmp_path, "asha", point)


@pytest.mark.parametrize("scheduler", ["asha", "swift", "predictive"])
@pytest.mark.parametrize("point", ["result:20", "snapshot:3"])
def test_two_concurrent_trials_resume_exactly(tmp_path, scheduler, point):
    assert check_resume(tmp_path, scheduler, point) == "resumed"


def _truncate(pattern: str, keep: float = 0.5):
    def tear(d):
        (f,) = d.glob(pattern)
        data = f.read_bytes()
        f.write_bytes(data[: int(len(data) * keep)])
    return tear


def _remove(pattern: str):
    def tear(d):
        for f in d.glob(pattern):
            f.unlink()
    return tear


TEARS = {"experiment-state-empty": _truncate("experiment_state-*.json", 0),
         "experiment-state-truncated": _truncate("experiment_state-*.json"),
         "callback-state-truncated": _truncate("callback-states-*.pkl"),
         "experiment-state-missing": _remove("experiment_state-*.json")}


@pytest.mark.parametrize("tear", sorted(TEARS))
def test_torn_tune_snapshot_falls_back_to_our_record(tmp_path, tear):
    """Tune's snapshot torn (or missing) after a kill, our record whole: the resume continues from the
    record in a new Tune run, keeps every recorded trial and epoch, and ends the planned trials."""
    assert check_resume(tmp_path, "asha", "result:40", tear=TEARS[tear]) == "resumed"


def test_torn_tune_snapshot_falls_back_with_paused_trials(tmp_path):
    """Hyperband pauses trials at its rungs: the fallback re-queues them PAUSED from their checkpoints
    (and waiting ones from scratch, with their recorded configs), and the brackets still end."""
    assert check_resume(tmp_path, "hyperband", "result:45", tear=TEARS["experiment-state-empty"]) == "resumed"
