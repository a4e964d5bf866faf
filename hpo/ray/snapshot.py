"""The snapshot a ``--resume`` continues from: checked whole before Tune reads it, and our own copy.

Ray Tune 2.60 writes its experiment snapshot (``experiment_state-*.json``, the searcher's
``*-state-*.json``/``.pkl``, ``callback-states-*.pkl``, ``tuner.pkl``) in a staging folder and then
copies it into the results directory in place.  A ``kill -9`` during the copy leaves a torn file
(0 bytes), and Tune's restore then logs "Failed to restore the run state" and starts the
experiment again from nothing, which overwrote the results.  :func:`check_restorable` reads every
snapshot file before ``Tuner.restore`` and refuses a torn or missing one with one line
(``ConfigError``: exit status 2 in the CLI); nothing is written then.

:func:`write_state` keeps our own record, ``hpo_state.json``, written atomically (``hpo.atomic``)
and versioned at each Tune snapshot: the trials, their reported epochs and outcomes so far.  A
resume never ends with fewer completed trials than it records (:func:`completed_in_state`).

:func:`kill_point` is the test hook for crash consistency: ``HPO_TEST_KILL_AT=POINT:N`` makes the
N-th pass through ``POINT`` in this process end it at once (``os._exit``, like ``kill -9``: no
cleanup, no flush).  It does nothing when the variable is unset.
"""
from __future__ import annotations

import fnmatch
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

from hpo.atomic import fsync_dir
from hpo.errors import ConfigError

STATE_FILE = "hpo_state.json"
STATE_VERSION = 1
KILL_ENV = "HPO_TEST_KILL_AT"
DISK_ERROR_ENV = "HPO_TEST_DISK_ERROR_AT"
_passes: dict[str, int] = {}
# Tune's snapshot files in the results directory (Ray 2.60 names)
_TUNE_JSON = ("experiment_state-*.json", "basic-variant-state-*.json", "search_gen_state-*.json",
              "hpo-requeue-state-*.json")  # the last: hpo.ray.fallback's part of the snapshot
_TUNE_PICKLES = ("callback-states-*.pkl", "searcher-state-*.pkl", "tuner.pkl")
TUNE_FILES = _TUNE_JSON + _TUNE_PICKLES


def kill_point(point: str, file: str | os.PathLike | None = None) -> None:
    """End the process here on the N-th pass when ``HPO_TEST_KILL_AT=point:N`` (tests only).
    ``HPO_TEST_DISK_ERROR_AT=point:N:ENOSPC`` (or ``EROFS``) raises that ``OSError`` there instead,
    about ``file``: a full disk or read-only filesystem, injected (tests only)."""
    disk = os.environ.get(DISK_ERROR_ENV)
    if disk:
        name, count, code = disk.rsplit(":", 2)
        if name == point:
            _passes["disk:" + point] = _passes.get("disk:" + point, 0) + 1
            if _passes["disk:" + point] == int(count):
                import errno

                num = getattr(errno, code)
                raise OSError(num, os.strerror(num), None if file is None else str(file))
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    name, _, count = spec.rpartition(":")
    if name != point:
        return
    _passes[point] = _passes.get(point, 0) + 1
    if _passes[point] == int(count):
        os._exit(137)


def encode(state: dict[str, Any]) -> bytes:
    """The record as it will be written (a copy: later changes to ``state`` do not reach it)."""
    return json.dumps({"version": STATE_VERSION, **state}, default=_plain).encode()


def write_state(path: Path, state: dict[str, Any] | bytes) -> None:
    """Atomically replace ``path/hpo_state.json`` (temporary file, fsync, rename, fsync folder),
    with the ``kill_point`` hooks ``hpo_state_write`` (temporary file written, not renamed)."""
    doc = state if isinstance(state, bytes) else encode(state)
    target = Path(path) / STATE_FILE
    tmp = target.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(doc[: len(doc) // 2])
            kill_point("hpo_state_write", tmp)  # a kill here leaves a torn temporary file, never a torn target
            fh.write(doc[len(doc) // 2:])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError:  # a full disk, a read-only filesystem: the last complete record stays
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def read_state(path: Path) -> dict[str, Any] | None:
    """Our last complete record, or None if there is none.  A record we cannot read is refused
    (it is written atomically, so it is never torn by a crash: something else damaged it)."""
    target = Path(path) / STATE_FILE
    if not target.exists():
        return None
    try:
        doc = json.loads(target.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{target} is unreadable ({exc.__class__.__name__}); it is never torn by a crash, "
                          "so it was damaged: restore it from a backup", "resume") from None
    if doc.get("version") != STATE_VERSION:
        raise ConfigError(f"{target} has version {doc.get('version')!r}; this hpo reads version "
                          f"{STATE_VERSION}", "resume")
    return doc


def completed_in_state(doc: dict[str, Any] | None) -> set[str]:
    """Trials the record says had ended normally (their last epoch reported, no error)."""
    if not doc:
        return set()
    return {tid for tid, status in doc.get("statuses", {}).items() if status == "TERMINATED"}


def prune_checkpoints(trial_dir: str | os.PathLike, keep_from: str | None, keep_last: int = 2) -> list[str]:
    """Delete a trial's ``checkpoint_*`` folders older than ``keep_from`` (the one the last
    *complete* Tune snapshot refers to), always keeping the newest ``keep_last``.

    Tune's own ``num_to_keep`` deletes a checkpoint as soon as newer ones exist, while the snapshot
    on disk, written only every few seconds, may still refer to it: a crash then left a trial that
    could not be restored ("Could not recover from checkpoint as it does not exist").  So Tune keeps
    every checkpoint and this keeps what a snapshot may still need."""
    folder = Path(trial_dir)
    if keep_from is None or not folder.is_dir():
        return []
    names = sorted(n for n in os.listdir(folder) if n.startswith("checkpoint_"))
    floor = Path(keep_from).name
    doomed = [n for n in names[:-keep_last] if n < floor] if keep_last else [n for n in names if n < floor]
    for name in doomed:
        shutil.rmtree(folder / name, ignore_errors=True)
    return doomed


def check_restorable(path: Path) -> None:
    """Refuse (``ConfigError``, one line) a results directory whose Tune snapshot is missing or torn."""
    why = tune_snapshot_problem(path)
    if why is None:
        return
    if why.startswith("no Tune snapshot"):
        raise ConfigError(f"{path} has {why}: the run was stopped before its first one, so there is nothing "
                          "to continue; start the experiment again under another --name", "resume")
    raise ConfigError(f"{why}: refusing to resume from it; nothing was changed", "resume")


def tune_snapshot_problem(path: Path) -> str | None:
    """Why Tune's snapshot in ``path`` cannot be restored (missing, or a torn file), or None."""
    path = Path(path)
    names = os.listdir(path)
    if not any(fnmatch.fnmatch(n, _TUNE_JSON[0]) for n in names):
        return f"no Tune snapshot ({_TUNE_JSON[0]})"
    for pattern in TUNE_FILES:
        for name in fnmatch.filter(names, pattern):
            problem = _unreadable(path / name)
            if problem:
                return f"{path / name} is {problem} (torn by a crash while Tune wrote it)"
    return None


def has_trials(doc: dict[str, Any] | None) -> bool:
    """Whether a record holds any trial (one written before the first trial has nothing to continue)."""
    return bool(doc and (doc.get("store", {}).get("trials") or doc.get("statuses") or doc.get("order")))


def _unreadable(file: Path) -> str | None:
    """Why a snapshot file is not whole, or None.  Tune names some pickles ``.json``
    (``basic-variant-state-*.json``), so a file is whole if it is complete JSON or a complete pickle."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if not data:
        return "empty"
    try:
        json.loads(data)
        return None
    except ValueError:
        pass
    try:
        pickle.loads(data)  # noqa: S301 - Tune unpickles the same file on restore (docs/reliability.md)
    except (EOFError, pickle.UnpicklingError):  # what a truncated pickle (or JSON) raises
        return "neither complete JSON nor a complete pickle"
    except Exception:  # noqa: BLE001 - complete, but needs what only the restore sets up: Tune's to judge
        return None
    return None


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else str(v)
