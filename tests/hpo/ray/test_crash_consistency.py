"""Crash consistency (issue 15 item 1): our own record is written atomically and versioned; a torn
or missing Tune snapshot is detected before Ray starts, and a resume then falls back to our record
(``hpo.ray.fallback``: the end-to-end runs are in ``test_resume_kill_points.py``) or, without a record
of any trial, is refused with one line and exit 2 before anything is written; a resume never ends
with less than the record held.  Kills are injected through
``HPO_TEST_KILL_AT=POINT:N`` (``hpo.ray.snapshot.kill_point``), not timed by luck."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import textwrap

import pandas as pd
import pytest

from conftest import PY, ROOT, run_cli
from hpo.errors import ConfigError, FewerResultsError
from hpo.ray import snapshot
from hpo.results import check_keeps


def test_kill_point_is_inert_without_the_variable(monkeypatch):
    monkeypatch.delenv(snapshot.KILL_ENV, raising=False)
    for _ in range(3):
        snapshot.kill_point("result")


def test_a_kill_inside_the_record_write_keeps_the_last_complete_record(tmp_path):
    code = textwrap.dedent(f"""
        from pathlib import Path
        from hpo.ray import snapshot
        snapshot.write_state(Path({str(tmp_path)!r}), {{"statuses": {{"t0": "TERMINATED"}}}})
        snapshot.write_state(Path({str(tmp_path)!r}), {{"statuses": {{"t0": "TERMINATED", "t1": "TERMINATED"}}}})
    """)
    proc = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, snapshot.KILL_ENV: "hpo_state_write:2"})
    assert proc.returncode == 137, proc.stderr
    doc = snapshot.read_state(tmp_path)
    assert doc["version"] == snapshot.STATE_VERSION and snapshot.completed_in_state(doc) == {"t0"}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # the torn one is a temp file


def test_a_damaged_record_is_refused(tmp_path):
    (tmp_path / snapshot.STATE_FILE).write_text('{"version": 1, "stat')
    with pytest.raises(ConfigError, match="unreadable"):
        snapshot.read_state(tmp_path)
    (tmp_path / snapshot.STATE_FILE).write_text('{"version": 99}')
    with pytest.raises(ConfigError, match="version 99"):
        snapshot.read_state(tmp_path)


def _tune_dir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "experiment.yaml").write_text("name: run\n")
    (d / "experiment_state-2026.json").write_text(json.dumps({"trial_data": []}))
    (d / "basic-variant-state-2026.json").write_bytes(pickle.dumps({"a": list(range(100))}))  # Tune's name
    (d / "callback-states-2026.pkl").write_bytes(pickle.dumps({"a": list(range(100))}))
    (d / "tuner.pkl").write_bytes(pickle.dumps({"t": 1}))
    return d


@pytest.mark.parametrize("name, content, problem", [
    ("experiment_state-2026.json", b"", "empty"),
    ("experiment_state-2026.json", b'{"trial_data": [', "neither complete JSON nor a complete pickle"),
    ("basic-variant-state-2026.json", pickle.dumps({"a": list(range(100))})[:40], "neither complete JSON"),
    ("callback-states-2026.pkl", pickle.dumps({"a": list(range(100))})[:40], "neither complete JSON"),
    ("tuner.pkl", b"", "empty"),
])
def test_torn_tune_snapshot_is_detected(tmp_path, name, content, problem):
    d = _tune_dir(tmp_path)
    snapshot.check_restorable(d)  # whole: accepted
    (d / name).write_bytes(content)
    with pytest.raises(ConfigError, match=problem):
        snapshot.check_restorable(d)


def test_missing_first_snapshot_is_detected(tmp_path):
    d = _tune_dir(tmp_path)
    (d / "experiment_state-2026.json").unlink()
    with pytest.raises(ConfigError, match="before its first one"):
        snapshot.check_restorable(d)


def test_cli_refuses_a_torn_snapshot_in_one_line_exit_2_and_changes_nothing(tmp_path):
    d = _tune_dir(tmp_path)
    (d / "trials.parquet").write_bytes(b"old results")
    (d / "experiment_state-2026.json").write_bytes(b"")
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    proc = run_cli("--resume", str(d), timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "experiment_state-2026.json is empty" in proc.stderr and "nothing was changed" in proc.stderr
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


def test_resumed_table_must_keep_every_recorded_trial():
    record = {"statuses": {"a": "TERMINATED", "b": "PAUSED"},
              "store": {"trials": {"a": {"epochs": 4}, "b": {"epochs": 2}}}}
    check_keeps(pd.DataFrame({"trial_id": ["a", "b"], "epochs": [4, 1]}), record)  # b was live: may re-run
    with pytest.raises(FewerResultsError, match="trial b"):
        check_keeps(pd.DataFrame({"trial_id": ["a"], "epochs": [4]}), record)
    with pytest.raises(FewerResultsError, match="3 epochs of trial a"):
        check_keeps(pd.DataFrame({"trial_id": ["a", "b"], "epochs": [3, 2]}), record)
    check_keeps(pd.DataFrame(), None)


def test_checkpoints_a_complete_snapshot_may_need_are_kept(tmp_path):
    for i in range(6):
        (tmp_path / f"checkpoint_{i:06d}").mkdir()
    assert snapshot.prune_checkpoints(tmp_path, None) == []  # no complete snapshot yet: keep all
    gone = snapshot.prune_checkpoints(tmp_path, str(tmp_path / "checkpoint_000002"))
    assert gone == ["checkpoint_000000", "checkpoint_000001"]
    assert snapshot.prune_checkpoints(tmp_path, str(tmp_path / "checkpoint_000009")) == \
        ["checkpoint_000002", "checkpoint_000003"]  # the newest two always stay
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_000004", "checkpoint_000005"]


def _ckpt(trial_dir, name, epoch):
    c = trial_dir / name
    c.mkdir(parents=True)
    (c / "hpo_meta.json").write_text(json.dumps({"hpo_epoch": epoch}))
    return c


def test_fallback_starts_a_requeued_trial_from_the_checkpoint_the_record_reached(tmp_path):
    from hpo.ray import fallback

    a = tmp_path / "hpo_trial_x_ab12_00001_1_row=3_2026"
    _ckpt(a, "checkpoint_000000", 2)
    want = _ckpt(a, "checkpoint_000001", 3)
    _ckpt(a, "checkpoint_000002", 5)  # past the record: its epochs 4-5 are not recorded
    (a / "checkpoint_000003").mkdir()  # torn: no metadata
    _ckpt(tmp_path / "hpo_trial_x_ab12_00011_1_row=3_2026", "checkpoint_000000", 4)  # another trial
    assert fallback.latest_checkpoint(tmp_path, "ab12_00001", 4) == (str(want), 3)
    assert fallback.latest_checkpoint(tmp_path, "ab12_00001", 1) is None
    assert fallback.latest_checkpoint(tmp_path, "zz", 9) is None


def test_fallback_plan_keeps_ended_trials_and_requeues_the_rest(tmp_path):
    from hpo.ray import fallback

    trial = tmp_path / "hpo_trial_x_b_0"
    _ckpt(trial, "checkpoint_000001", 2)
    record = {"order": ["a", "b", "c", "d", "e"],
              "statuses": {"a": "TERMINATED", "e": "ERROR"},
              "store": {"trials": {t: {"config": {"row": i}, "epochs": n}
                                   for i, (t, n) in enumerate([("a", 9), ("b", 2), ("d", 1), ("e", 1)])}},
              "configs": {"c": {"row": 7}}}

    class Core:  # d was stopped at a rung: ended for the scheduler though Tune had not said so yet
        def trial_status(self, tid):
            return {"d": "stopped"}.get(tid, "paused")

    p = fallback.plan(record, tmp_path, Core())
    assert p["ended"] == ["a", "d", "e"] and p["lost"] == []
    assert [(r["trial_id"], r["config"], r["from_epoch"]) for r in p["requeue"]] == [("b", {"row": 1}, 2),
                                                                                     ("c", {"row": 7}, 0)]
    assert p["requeue"][0]["checkpoint"] == str(trial / "checkpoint_000001") and p["requeue"][1]["checkpoint"] is None
    assert p["expected"][2] == {"row": 7}
    del record["configs"]  # a record from before configs were kept: c cannot be re-queued
    assert fallback.plan(record, tmp_path, Core())["lost"] == ["c"]


def test_fallback_moves_tunes_torn_snapshot_aside_and_keeps_everything_else(tmp_path):
    from hpo.ray import fallback

    d = _tune_dir(tmp_path)
    (d / "experiment_state-2026.json").write_bytes(b"")
    (d / snapshot.STATE_FILE).write_text("{}")
    aside = fallback.set_aside(d)
    assert sorted(p.name for p in d.iterdir()) == sorted([aside.name, "experiment.yaml", snapshot.STATE_FILE])
    assert sorted(p.name for p in aside.iterdir()) == ["basic-variant-state-2026.json", "callback-states-2026.pkl",
                                                       "experiment_state-2026.json", "tuner.pkl"]


def test_torn_snapshot_without_a_record_of_any_trial_is_still_refused(tmp_path):
    d = _tune_dir(tmp_path)
    (d / "experiment_state-2026.json").write_bytes(b"")
    snapshot.write_state(d, {"store": {"rows": [], "trials": {}}, "statuses": {}, "order": []})
    assert not snapshot.has_trials(snapshot.read_state(d))
    proc = run_cli("--resume", str(d), timeout=120)
    assert proc.returncode == 2 and "is empty" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not list(d.glob("torn-tune-snapshot-*"))


def test_torn_snapshot_of_a_run_with_an_instance_is_refused(tmp_path):
    """A scheduler/search/predictor passed as an instance lived only in Tune's snapshot: no fallback."""
    d = _tune_dir(tmp_path)
    (d / "experiment.yaml").write_text("name: run\nscheduler: {name: instance, class: x.Y}\n")
    (d / "experiment_state-2026.json").write_bytes(b"")
    snapshot.write_state(d, {"store": {"rows": [], "trials": {"t": {"config": {}, "epochs": 1}}}, "statuses": {}})
    proc = run_cli("--resume", str(d), timeout=120)
    assert proc.returncode == 2 and "is empty" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not list(d.glob("torn-tune-snapshot-*"))
