"""The driver-side Tune callback: records curves, prints progress, carries the resumable state.

Tune never saves scheduler state, so ``get_state`` carries the scheduler's state (rungs,
brackets, predictor pool; the core's curves are not repeated: they come back from the curve
record) and the one curve record (``CurveStore``); Tune writes it with its own experiment
snapshot (trial table, searcher state), so the two always agree on ``--resume``.
"""
from __future__ import annotations

import os
import time

from ray.tune import Callback

from hpo import results
from hpo.progress import progress_line, say

from . import snapshot
from .runtime import FAULT_KEY
from .snapshot import kill_point
from .scheduler import SchedulerView
from .watchdog import StallGuard


class HpoCallback(Callback):
    def __init__(self, store: results.CurveStore, path, scheduler: SchedulerView, guard: StallGuard,
                 total: int | None = None):
        self.store, self.scheduler, self.path = store, scheduler, path
        self.guard = guard  # also the run's Stopper: ends a run whose paused trials nothing resumes
        self.total = total  # trials the experiment plans (progress shows done/total)
        self.statuses: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.t0 = time.monotonic()
        self.flush = results.Throttle(20.0)
        self.progress = results.Throttle(10.0)
        self._said: set[str] = set()  # failure reasons already printed
        self._record: bytes | None = None  # hpo_state.json of the snapshot Tune is writing now
        self._live: list = []  # Tune's trials, as on_step_end last saw them
        self._referenced: dict[str, str] = {}  # trial -> checkpoint the previous snapshot refers to

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result.get(FAULT_KEY):  # the trial broke the report contract: failed, nothing to record
            self.store.trials.setdefault(trial.trial_id, {"config": {k: results._plain(v) for k, v in
                                                                     trial.config.items()},
                                                          "epochs": 0, "nonfinite": False})
            self._failed(trial.trial_id, str(result[FAULT_KEY]))
            return
        self.store.add(trial.trial_id, result, trial.config)
        kill_point("result")
        if self.flush.ready():
            results.flush_curves(self.path, self.store)

    def on_trial_complete(self, iteration, trials, trial, **info):
        if trial.trial_id not in self.errors:
            self.statuses[trial.trial_id] = "TERMINATED"
        kill_point("complete")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._failed(trial.trial_id, trial_error(trial))

    def _failed(self, tid: str, why: str) -> None:
        """One line per failed trial (Ray's own traceback is silenced: ``hpo.ray.tuner``); a reason
        already printed for an earlier trial is not repeated (the summary counts them all)."""
        self.statuses[tid] = "ERROR"
        self.errors[tid] = why
        short = _without_log(why)
        if short not in self._said:
            self._said.add(short)
            say(f"trial {tid} failed: {why}")

    def on_step_end(self, iteration, trials, **info):
        self._live = trials
        self.guard.observe(trials)
        if self.progress.ready():
            say(progress_line([t.status for t in trials], self.store, time.monotonic() - self.t0, self.total))

    def on_experiment_end(self, trials, **info):
        for t in trials:
            self.statuses.setdefault(t.trial_id, t.status)
            self.store.trials.setdefault(t.trial_id, {"config": dict(t.config), "epochs": 0, "nonfinite": False})

    def __getstate__(self) -> dict:  # Tune pickles callbacks into tuner.pkl: no live trials there
        state = dict(self.__dict__)
        state["_live"], state["_record"] = [], None
        return state

    def get_state(self) -> dict | None:
        """Called by Tune at each experiment snapshot; also writes our own record of it
        (``hpo_state.json``, atomically: :mod:`hpo.ray.snapshot`)."""
        kill_point("snapshot")
        state = {"store": self.store.get_state(), "statuses": self.statuses, "errors": self.errors,
                 "scheduler": self.scheduler.get_state(),
                 # every trial Tune has created, in order, and the configs of those without a result
                 # yet: a fallback resume (hpo.ray.fallback) re-queues them from this record alone
                 "order": [t.trial_id for t in self._live],
                 "configs": {t.trial_id: {k: results._plain(v) for k, v in t.config.items()}
                             for t in self._live if t.trial_id not in self.store.trials}}
        if self.path is not None:
            # Tune copies this snapshot into the results directory after this call; the record of
            # the previous one (complete by now) is written, so the record never runs ahead of it.
            previous, self._record = self._record, snapshot.encode(state)
            if previous is not None:
                snapshot.write_state(self.path, previous)
            self._prune()
        kill_point("after_snapshot")
        return state

    def _prune(self) -> None:
        """Drop checkpoints no complete snapshot refers to any more (``snapshot.prune_checkpoints``)."""
        for trial in self._live:
            if trial.path:
                snapshot.prune_checkpoints(trial.path, self._referenced.get(trial.trial_id))
            ckpt = trial.checkpoint
            if ckpt is not None and ckpt.path:
                self._referenced[trial.trial_id] = ckpt.path

    def __setstate__(self, state: dict) -> None:  # callbacks pickled before _said existed
        self.__dict__.update(state)
        for name, default in (("_said", set()), ("_record", None), ("_live", []), ("_referenced", {})):
            self.__dict__.setdefault(name, default)

    def set_state(self, state: dict) -> None:
        self.store.set_state(state["store"])
        self.statuses = {k: v for k, v in state["statuses"].items() if v in ("TERMINATED", "ERROR")}
        self.errors = dict(state["errors"])
        if state.get("scheduler") is not None:
            self.scheduler.set_state(state["scheduler"], curves=self.store.loss_curves())
        say(f"restored {len(self.store.trials)} trials, {len(self.store.rows)} reported epochs and the "
            "scheduler state from the last snapshot")


def trial_error(trial) -> str:
    """``Type: message`` of the exception a failed trial raised (Ray 2.60 pickles it next to the
    trial: ``Trial.get_pickled_error``), and where its log is."""
    exc = _pickled_error(trial)
    cause = getattr(exc, "cause", None) or exc  # Ray's task error keeps the user's exception as .cause
    if cause is not None:
        msg = [line for line in str(cause).strip().splitlines() if line.strip()]
        text = f"{type(cause).__name__}: {msg[-1].strip() if msg else ''}".rstrip(": ")
    else:
        text = _last_error_line(trial) or "trial raised an error"
    where = _error_log(trial)
    return text[:300] + (f" (log: {where})" if where else "")


def _pickled_error(trial):
    """The exception Tune pickled for the trial: its staging copy first (written at once), then
    the one in storage (synced later); None when neither can be read."""
    import cloudpickle

    try:
        local = trial.pickled_error_file
        if local and os.path.exists(local):
            with open(local, "rb") as fh:
                return cloudpickle.load(fh)
    except Exception:  # noqa: BLE001 - an unreadable error file must not fail the run
        pass
    try:
        return trial.get_pickled_error()
    except Exception:  # noqa: BLE001
        return None


def _last_error_line(trial) -> str | None:
    """``Type: message``: the last line of the trial's ``error.txt`` (an error Tune did not pickle)."""
    try:
        path = trial.error_file
        lines = [ln.strip() for ln in open(path, encoding="utf-8", errors="replace")] if path else []
    except OSError:
        return None
    lines = [ln for ln in lines if ln and not ln.startswith("Failure # ")]
    return lines[-1] if lines else None


def _error_log(trial) -> str | None:
    """The trial's ``error.txt`` in the results directory (Tune syncs it there from its staging
    folder under /tmp/ray, which does not outlive the Ray session), else the staging copy."""
    name = getattr(trial.run_metadata, "error_filename", None)
    try:
        kept = trial.storage.trial_fs_path if name else None
    except Exception:  # noqa: BLE001 - a storage without a local path
        kept = None
    if kept and os.path.isabs(kept):
        return os.path.join(kept, name)
    return trial.error_file or trial.local_path


def _without_log(why: str) -> str:
    return why.split(" (log: ", 1)[0]
