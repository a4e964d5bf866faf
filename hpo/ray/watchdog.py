"""Stall detection: end an experiment whose scheduler will never resume its paused trials.

A pausing scheduler (Hyperband, Swift-Hyperband, ...) that leaves trials PAUSED while nothing runs
and nothing is pending can never be woken up again: Tune only asks the scheduler for work after an
event, and no trial is left to produce one.  Such a run would wait forever.  ``StallGuard`` watches
the trial statuses after every controller step (fed by the service callback) and, once that state
has lasted ``seconds``, makes Tune stop the experiment (it is a ``Stopper``).  The service then
writes the results gathered so far and raises ``hpo.errors.ExperimentStalled`` naming the paused trials, so a
scheduler bug shows up as a clear error instead of a hang.

``HPO_STALL_TIMEOUT_S`` sets the time (default 120 s; ``0`` switches the guard off).
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable, Iterable

from ray.tune.stopper import Stopper

log = logging.getLogger(__name__)

DEFAULT_STALL_S = 120.0


def stall_seconds() -> float:
    raw = os.environ.get("HPO_STALL_TIMEOUT_S", "")
    try:
        return float(raw) if raw.strip() else DEFAULT_STALL_S
    except ValueError:
        log.warning("HPO_STALL_TIMEOUT_S=%r is not a number; using %s s", raw, DEFAULT_STALL_S)
        return DEFAULT_STALL_S


class StallGuard(Stopper):
    def __init__(self, seconds: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.seconds = stall_seconds() if seconds is None else float(seconds)
        self.clock = clock
        self.since: float | None = None
        self.stalled: list[str] = []  # the paused trial ids, once stalled

    def reset(self) -> None:
        """Forget what was seen (after a restore: the clock and the trials start afresh)."""
        self.since, self.stalled = None, []

    def observe(self, trials: Iterable) -> None:
        """Look at the trial statuses after a controller step."""
        if self.seconds <= 0 or self.stalled:
            return
        statuses = [(t.trial_id, t.status) for t in trials]
        paused = [tid for tid, s in statuses if s == "PAUSED"]
        busy = any(s in ("RUNNING", "PENDING") for _, s in statuses)
        if busy or not paused:
            self.since = None
            return
        now = self.clock()
        if self.since is None:
            self.since = now
        elif now - self.since >= self.seconds:
            self.stalled = paused
            log.error("experiment stalled: %d paused trial(s) and nothing running or pending for %.0f s; "
                      "the scheduler will not resume %s. Stopping the experiment.",
                      len(paused), now - self.since, ", ".join(paused[:10]))

    def message(self) -> str:
        return (f"the scheduler left {len(self.stalled)} paused trial(s) ({', '.join(self.stalled[:10])}) that "
                f"nothing would resume, with no trial running or pending for {self.seconds:.0f} s; the "
                "experiment was stopped (this is a scheduler bug: please report it with the results "
                "directory). Results gathered so far were written.")

    # ---- Stopper ------------------------------------------------------------------------------
    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        return bool(self.stalled)


class Deadline(Stopper):
    """The experiment's time limit (``budget.time_limit_s``), counted from the start of the run.

    Tune's own ``time_budget_s`` starts counting at its first check, after its set-up (about 3 s on
    2 cores), so a 15 s limit ended the run at 19 s (26 s with Ray's start).  This one counts from
    its creation, when the run starts (Ray is up), and like Tune's it carries the budget left over a
    resume (the clock pauses while no driver runs)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.left = float(seconds)
        self.clock = clock
        self._last: float | None = clock()

    def __getstate__(self) -> dict:  # pickled into Tune's snapshot: no clock reading survives a restart
        state = dict(self.__dict__)
        state["_last"] = None
        return state

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        now = self.clock()
        if self._last is not None:
            self.left -= now - self._last
        self._last = now
        return self.left <= 0
