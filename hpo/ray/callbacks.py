"""The driver-side Tune callback: records curves, prints progress, carries the resumable state.

Tune never saves scheduler state, so ``get_state`` carries the scheduler's state (rungs,
brackets, predictor pool; the core's curves are not repeated: they come back from the curve
record) and the one curve record (``CurveStore``); Tune writes it with its own experiment
snapshot (trial table, searcher state), so the two always agree on ``--resume``.
"""
from __future__ import annotations

import time

from ray.tune import Callback

from hpo import results
from hpo.progress import progress_line, say

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

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.store.add(trial.trial_id, result, trial.config)
        if self.flush.ready():
            results.flush_curves(self.path, self.store)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.statuses[trial.trial_id] = "TERMINATED"

    def on_trial_error(self, iteration, trials, trial, **info):
        self.statuses[trial.trial_id] = "ERROR"
        self.errors[trial.trial_id] = trial_error(trial)

    def on_step_end(self, iteration, trials, **info):
        self.guard.observe(trials)
        if self.progress.ready():
            say(progress_line([t.status for t in trials], self.store, time.monotonic() - self.t0, self.total))

    def on_experiment_end(self, trials, **info):
        for t in trials:
            self.statuses.setdefault(t.trial_id, t.status)
            self.store.trials.setdefault(t.trial_id, {"config": dict(t.config), "epochs": 0, "nonfinite": False})

    def get_state(self) -> dict | None:
        return {"store": self.store.get_state(), "statuses": self.statuses, "errors": self.errors,
                "scheduler": self.scheduler.get_state()}

    def set_state(self, state: dict) -> None:
        self.store.set_state(state["store"])
        self.statuses = {k: v for k, v in state["statuses"].items() if v in ("TERMINATED", "ERROR")}
        self.errors = dict(state["errors"])
        if state.get("scheduler") is not None:
            self.scheduler.set_state(state["scheduler"], curves=self.store.loss_curves())
        say(f"restored {len(self.store.trials)} trials, {len(self.store.rows)} reported epochs and the "
            "scheduler state from the last snapshot")


def trial_error(trial) -> str:
    """``Type: message`` of the exception a failed trial raised, and where its log is."""
    try:
        exc = trial.get_pickled_error()
    except Exception:  # noqa: BLE001 - an unreadable error file must not fail the run
        exc = None
    cause = getattr(exc, "cause", None) or exc  # Ray's task error keeps the user's exception as .cause
    if cause is None:
        text = "trial raised an error"
    else:
        msg = str(cause).strip().splitlines()
        text = f"{type(cause).__name__}: {msg[-1] if msg else ''}".rstrip(": ")
    where = trial.error_file or trial.local_path
    return text[:300] + (f" (log: {where})" if where else "")
