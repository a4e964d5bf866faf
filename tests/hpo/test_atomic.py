"""Crash-safe writes of our own files: a failure at any step leaves the old file whole, every
results file goes through ``atomic_write``, and results are never replaced by fewer."""
from __future__ import annotations

import json
import os
import stat

import pandas as pd
import pytest

from hpo import atomic, results, run
from hpo.atomic import atomic_write
from hpo.errors import FewerResultsError


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("content,expected", [("héllo\n", "héllo\n".encode()), (b"\x00\x01", b"\x00\x01"),
                                              (lambda p: p.write_bytes(b"by callback"), b"by callback")],
                         ids=["text", "bytes", "callable"])
def test_writes_and_replaces(tmp_path, content, expected):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    assert atomic_write(target, content) == target
    assert target.read_bytes() == expected
    assert _leftovers(tmp_path) == []


def test_mode_is_what_a_plain_write_gives(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    atomic_write(tmp_path / "atomic", "x")
    assert stat.S_IMODE((tmp_path / "atomic").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_fsync_file_then_rename_then_fsync_folder(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(a, b):
        events.append("rename")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(tmp_path / "f", "data")
    atomic_write(tmp_path / "g", lambda p: p.write_text("data"))
    assert events == ["fsync-file", "rename", "fsync-dir"] * 2


@pytest.mark.parametrize("where", ["writer", "fsync", "rename"])
def test_failure_at_any_step_keeps_the_old_file(tmp_path, monkeypatch, where):
    target = tmp_path / "trials.parquet"
    target.write_bytes(b"complete old file")

    def boom(*a, **k):
        raise KeyboardInterrupt  # like a signal arriving mid-write: BaseException, not Exception

    def writer(p):
        p.write_bytes(b"half")
        if where == "writer":
            boom()

    if where == "fsync":
        monkeypatch.setattr(os, "fsync", boom)
    if where == "rename":
        monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, writer)
    assert target.read_bytes() == b"complete old file"
    assert _leftovers(tmp_path) == []


def test_fsync_dir_tolerates_a_missing_folder(tmp_path):
    atomic.fsync_dir(tmp_path / "missing")


# ---------------------------------------------------------------- results.write
def _store_and_table(n_completed: int, n_stopped: int = 1):
    store = results.CurveStore("loss", "min")
    rows = []
    for i in range(n_completed + n_stopped):
        tid = f"t{i}"
        epochs = 2 if i < n_completed else 1
        for e in range(1, epochs + 1):
            store.add(tid, {"loss": 1.0 / (i + e), "hpo_epoch": e}, {"x": i})
        rows.append({"trial_id": tid, "x": i, "loss": 1.0 / (i + epochs), "epochs": epochs,
                     "outcome": "completed" if i < n_completed else "stopped_rung", "stop_reason": "r"})
    return store, pd.DataFrame(rows)


def _write(path, n_completed):
    store, trials = _store_and_table(n_completed)
    best = results.pick_best(trials, "loss", "min", 2)
    results.write(path, store, trials, {"name": "x", "metric": "loss"}, best, ["x"])


def test_every_results_file_goes_through_atomic_write(tmp_path, monkeypatch):
    written = []

    def spy(path, content):
        written.append(os.path.basename(path))
        return atomic_write(path, content)

    monkeypatch.setattr(results, "atomic_write", spy)
    _write(tmp_path, 2)
    results.flush_curves(tmp_path, _store_and_table(2)[0])
    assert written == ["trials.parquet", "curves.parquet", "best.json", "experiment.yaml", "curves.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json", "curves.parquet", "experiment.yaml",
                                                         "trials.parquet"]
    loaded = results.load(tmp_path)
    assert len(loaded.trials) == 3 and loaded.best_trial_id == "t1" and not loaded.curves.empty


def test_results_are_never_replaced_by_fewer_completed_trials(tmp_path):
    _write(tmp_path, 3)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(FewerResultsError, match=r"holds 3 completed trials, the new table only 1; kept the existing"):
        _write(tmp_path, 1)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing at all was replaced
    _write(tmp_path, 3)  # as many: fine
    _write(tmp_path, 4)  # more: fine
    assert int((pd.read_parquet(tmp_path / "trials.parquet")["outcome"] == "completed").sum()) == 4


def test_unreadable_old_table_is_replaced_with_a_warning(tmp_path, caplog):
    (tmp_path / "trials.parquet").write_bytes(b"")  # torn by a crash before atomic writes
    _write(tmp_path, 1)
    assert "replacing unreadable" in caplog.text
    assert len(pd.read_parquet(tmp_path / "trials.parquet")) == 2


def test_cli_reports_fewer_results_in_one_line_exit_1(capsys):
    def action():
        raise FewerResultsError("/r/trials.parquet holds 3 completed trials, the new table only 1")

    assert run._guarded(action) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hpo: error: /r/trials.parquet holds 3 completed trials, the new table only 1"]


def test_best_json_is_complete_json(tmp_path):
    _write(tmp_path, 2)
    assert json.loads((tmp_path / "best.json").read_text())["trial_id"] == "t1"
