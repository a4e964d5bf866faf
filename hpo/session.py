"""``hpo.report`` / ``hpo.get_checkpoint``: the calls a training function makes.

They work inside a Tune trial and inside a Ray Train worker (the trial runtime in
:mod:`hpo.ray.runtime` enters the session with the right backend) and in a local session
without Ray.  Every report carries ``hpo_epoch``: the number
of reports this trial has made over its whole life, pauses included (the counter travels inside
each checkpoint).  Schedulers use it as their budget unit, because Ray's ``training_iteration``
restarts after a PAUSE.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import shutil
import tempfile
from typing import Any

from .protocols import EPOCH_KEY, NONFINITE_KEY
_STATE_FILE = "hpo_state.pkl"
_META_FILE = "hpo_meta.json"


class NonFiniteMetric(Exception):
    """Raised inside a trial when the experiment metric is NaN or infinite."""


class LocalCheckpoint:
    """A checkpoint directory kept by a local session (no Ray): the same two calls Ray's has."""

    def __init__(self, path: str):
        self.path = path

    def as_directory(self):
        return contextlib.nullcontext(self.path)

    def to_directory(self) -> str:
        return self.path


class _Session:
    """One trial's reporting state.  ``backend`` is where reports go: None for a local session
    (tests, debugging), else an object from :mod:`hpo.ray.runtime` with ``report(metrics, dir)``
    and ``checkpoint()`` (Tune's or Train's)."""

    def __init__(self, backend: Any = None, rank: int = 0):
        self.backend, self.rank = backend, rank
        self.epoch: int | None = None
        self.local_reports: list[dict[str, Any]] = []  # local sessions only
        self.local_checkpoint: LocalCheckpoint | None = None
        self._local_dir: str | None = None  # the directory of the last local checkpoint this session wrote
        self.watch_metric: str | None = None  # set by the trial runtime: NaN/inf there ends the trial

    def _checkpoint(self):
        return self.local_checkpoint if self.backend is None else self.backend.checkpoint()

    def restored_epoch(self) -> int:
        ckpt = self._checkpoint()
        if ckpt is None:
            return 0
        with ckpt.as_directory() as d:
            meta = os.path.join(d, _META_FILE)
            if os.path.exists(meta):
                with open(meta) as fh:
                    return int(json.load(fh).get(EPOCH_KEY, 0))
        return 0

    def report(self, metrics: dict[str, Any], checkpoint: Any = None) -> None:
        if self.epoch is None:
            self.epoch = self.restored_epoch()
        self.epoch += 1
        metrics = {k: _plain(v) for k, v in metrics.items()}
        metrics[EPOCH_KEY] = self.epoch
        value = metrics.get(self.watch_metric) if self.watch_metric else None
        bad = isinstance(value, float) and not math.isfinite(value)
        if bad:
            metrics[NONFINITE_KEY] = True
            checkpoint = None
        ckpt_dir = None
        tmp = None
        if checkpoint is not None and self.rank == 0:
            if isinstance(checkpoint, (str, os.PathLike)):
                ckpt_dir = os.fspath(checkpoint)
            else:
                tmp = tempfile.TemporaryDirectory(prefix="hpo_ckpt_")
                ckpt_dir = tmp.name
                with open(os.path.join(ckpt_dir, _STATE_FILE), "wb") as fh:
                    pickle.dump(checkpoint, fh, protocol=pickle.HIGHEST_PROTOCOL)
            with open(os.path.join(ckpt_dir, _META_FILE), "w") as fh:
                json.dump({EPOCH_KEY: self.epoch}, fh)
        try:
            if self.backend is None:
                self._keep_local(metrics, ckpt_dir)
            else:
                self.backend.report(metrics, ckpt_dir)
        finally:
            if tmp is not None:
                tmp.cleanup()
        if bad and not (self.backend is not None and self.backend.data_parallel):  # DDP ranks stop together
            raise NonFiniteMetric(f"{self.watch_metric}={metrics.get(self.watch_metric)!r} "
                                  f"at epoch {self.epoch}")

    def _keep_local(self, metrics: dict[str, Any], ckpt_dir: str | None) -> None:
        self.local_reports.append(metrics)
        if ckpt_dir:
            keep = tempfile.mkdtemp(prefix="hpo_local_ckpt_")
            shutil.copytree(ckpt_dir, keep, dirs_exist_ok=True)
            self.local_checkpoint = LocalCheckpoint(keep)
            if self._local_dir:  # only the latest is ever resumed from; drop our previous one
                shutil.rmtree(self._local_dir, ignore_errors=True)
            self._local_dir = keep

    def get_checkpoint(self) -> Any:
        ckpt = self._checkpoint()
        if ckpt is None:
            return None
        local = ckpt.to_directory()
        state = os.path.join(local, _STATE_FILE)
        if os.path.exists(state):
            with open(state, "rb") as fh:
                return pickle.load(fh)
        return local


_current: _Session | None = None


def _enter(backend: Any = None, rank: int = 0) -> _Session:
    global _current
    _current = _Session(backend, rank)
    return _current


def _leave() -> None:
    global _current
    _current = None


class local_session:
    """Run a training function in-process without Ray (unit tests, debugging)::

        with hpo.session.local_session() as s:
            train(config)
        s.reports  # list of metric dicts, each with hpo_epoch

    ``resume_from`` continues from another local session's last checkpoint (pause/resume).
    """

    def __init__(self, resume_from: "local_session | None" = None):
        self._resume = resume_from

    def __enter__(self) -> "local_session":
        _enter(None)
        if self._resume is not None:
            _current.local_checkpoint = self._resume.checkpoint
        self._session = _current
        return self

    def __exit__(self, *exc) -> None:
        _leave()

    @property
    def reports(self) -> list[dict[str, Any]]:
        return self._session.local_reports

    @property
    def checkpoint(self):
        return self._session.local_checkpoint


def _plain(v: Any) -> Any:
    if hasattr(v, "item") and callable(v.item):
        try:
            return v.item()
        except (ValueError, RuntimeError):
            return v
    return v


def report(checkpoint: Any = None, **metrics: Any) -> None:
    """Report one epoch's metrics (keyword arguments), optionally with a checkpoint.

    ``checkpoint`` is any picklable object (e.g. ``{"model": model.state_dict(), "epoch": e}``) or
    the path of a directory to keep.  In a data-parallel trial every worker must call ``report``;
    only rank 0's checkpoint is kept.
    """
    if _current is None:
        raise RuntimeError("hpo.report() was called outside an hpo trial; run the function through "
                           "hpo.tune(...) or python -m hpo.run")
    _current.report(metrics, checkpoint)


def get_checkpoint() -> Any:
    """The trial's last checkpoint (the object passed to ``report``, or a directory path), or None."""
    if _current is None:
        raise RuntimeError("hpo.get_checkpoint() was called outside an hpo trial")
    return _current.get_checkpoint()
