"""``hpo.report`` / ``hpo.get_checkpoint``: the calls a training function makes.

They work inside a plain Tune trial and inside a Ray Train worker (the service wraps both, so the
context is known without probing Ray internals).  Every report carries ``hpo_epoch``: the number
of reports this trial has made over its whole life, pauses included (the counter travels inside
each checkpoint).  Schedulers use it as their budget unit, because Ray's ``training_iteration``
restarts after a PAUSE.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import tempfile
from typing import Any

EPOCH_KEY = "hpo_epoch"
_STATE_FILE = "hpo_state.pkl"
_META_FILE = "hpo_meta.json"


class _Session:
    def __init__(self, kind: str, rank: int = 0):
        self.kind, self.rank = kind, rank  # kind: "tune" | "train"
        self.epoch: int | None = None
        self.local_reports: list[dict[str, Any]] = []  # kind "local" (tests, no Ray)
        self.local_checkpoint = None
        self._local_dir: str | None = None  # the directory of the last local checkpoint this session wrote
        self.watch_metric: str | None = None  # set by hpo.trial: NaN/inf there ends the trial

    def _ray_checkpoint(self):
        if self.kind == "local":
            return self.local_checkpoint
        if self.kind == "train":
            import ray.train

            return ray.train.get_checkpoint()
        from ray import tune

        return tune.get_checkpoint()

    def restored_epoch(self) -> int:
        ckpt = self._ray_checkpoint()
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
            from .trial import NONFINITE_KEY

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
            if self.kind == "local":
                self.local_reports.append(metrics)
                if ckpt_dir:
                    import shutil

                    from ray.tune import Checkpoint

                    keep = tempfile.mkdtemp(prefix="hpo_local_ckpt_")
                    shutil.copytree(ckpt_dir, keep, dirs_exist_ok=True)
                    self.local_checkpoint = Checkpoint.from_directory(keep)
                    if self._local_dir:  # only the latest is ever resumed from; drop our previous one
                        shutil.rmtree(self._local_dir, ignore_errors=True)
                    self._local_dir = keep
            elif self.kind == "train":
                import ray.train

                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(ckpt_dir)
                                 if ckpt_dir else None)
            else:
                from ray import tune

                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(ckpt_dir) if ckpt_dir else None)
        finally:
            if tmp is not None:
                tmp.cleanup()
        if bad and self.kind != "train":  # DDP ranks must stop together: the scheduler stops it
            from .trial import NonFiniteMetric

            raise NonFiniteMetric(f"{self.watch_metric}={metrics.get(self.watch_metric)!r} "
                                  f"at epoch {self.epoch}")

    def get_checkpoint(self) -> Any:
        ckpt = self._ray_checkpoint()
        if ckpt is None:
            return None
        local = ckpt.to_directory()
        state = os.path.join(local, _STATE_FILE)
        if os.path.exists(state):
            with open(state, "rb") as fh:
                return pickle.load(fh)
        return local


_current: _Session | None = None


def _enter(kind: str, rank: int = 0) -> None:
    global _current
    _current = _Session(kind, rank)


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
        _enter("local")
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
