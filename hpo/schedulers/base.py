"""Trial bookkeeping shared by the pure-Python scheduler cores (no Ray import).

A core sees trials only by id.  ``CoreBase`` keeps each trial's learning curve (losses indexed by
epoch), its status and the reason it stopped, and implements the parts of
``hpo.protocols.SchedulerCore`` that are the same for every algorithm:

* a non-finite loss stops the trial (``Outcome.NON_FINITE``) and counts as +inf;
* a trial that reaches ``max_epochs`` ends as ``Outcome.COMPLETED``;
* trials the core stops while they are *not* reporting (paused losers of a rung cut) are queued in
  ``take_stops()``; the driver (Ray adapter or replay simulator) must stop them;
* ``seal()`` tells the core no more trials will be added (partly filled brackets may then close).

Subclasses implement ``_decide(trial_id, epoch)``, ``_choose(runnable)`` and ``_trial_ended(trial_id)``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping

from hpo.protocols import CONTINUE, ENDED, LIVE, PAUSE, STOP, Decision, Outcome, StopReason



class CoreBase:
    """Implements ``hpo.protocols.SchedulerCore`` up to the algorithm's own hooks."""
    kind = "base"
    uses_pause = False

    def __init__(self, max_epochs: int):
        if int(max_epochs) < 1:
            raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
        self.max_epochs = int(max_epochs)
        self.curves: dict[str, list[float]] = {}
        self.status: dict[str, str] = {}
        self.reasons: dict[str, StopReason] = {}
        self.sealed = False
        self._to_stop: list[str] = []
        self._reporting: str | None = None

    # ---- SchedulerCore API -------------------------------------------------------------
    def on_trial_add(self, trial_id: str) -> None:
        if trial_id in self.status:
            return
        self.curves[trial_id] = []
        self.status[trial_id] = "pending"
        self._added(trial_id)

    def on_result(self, trial_id: str, epoch: int, loss: float) -> Decision:
        if trial_id not in self.status:
            raise KeyError(f"scheduler core got a result for unknown trial {trial_id!r}")
        if self.status[trial_id] in ENDED:
            return STOP
        epoch = int(epoch)
        self._record(trial_id, epoch, loss)
        self.status[trial_id] = "running"
        self._reporting = trial_id
        try:
            if not math.isfinite(self.curves[trial_id][-1]):
                self._end(trial_id, "stopped", StopReason(Outcome.NON_FINITE, epoch=epoch))
                self._trial_ended(trial_id)
                return STOP
            decision = self._decide(trial_id, epoch)
            if self.status[trial_id] in ENDED:
                return STOP
            if epoch >= self.max_epochs:
                self._end(trial_id, "completed", StopReason(Outcome.COMPLETED, epoch=epoch))
                self._trial_ended(trial_id)
                return STOP
            if decision == PAUSE:
                self.status[trial_id] = "paused"
            return decision
        finally:
            self._reporting = None

    def on_trial_complete(self, trial_id: str) -> None:
        if self.status.get(trial_id) not in LIVE:
            return
        e = self.epoch(trial_id)
        if e >= self.max_epochs:
            self._end(trial_id, "completed", StopReason(Outcome.COMPLETED, epoch=e))
        else:
            self._end(trial_id, "stopped", StopReason(Outcome.ENDED_EARLY, epoch=e))
        self._trial_ended(trial_id)

    def on_trial_remove(self, trial_id: str) -> None:
        if self.status.get(trial_id) not in LIVE:
            return
        self._end(trial_id, "removed", StopReason(Outcome.REMOVED, epoch=self.epoch(trial_id)))
        self._trial_ended(trial_id)

    def choose_trial_to_run(self, runnable: Iterable[str]) -> str | None:
        ids = [t for t in runnable if self.status.get(t) in LIVE]
        for t in ids:
            # The driver offers it, so it is not running: a result reported while its pause was
            # being saved got CONTINUE, but the driver pauses it all the same (Tune keeps PAUSE).
            if self.status[t] == "running":
                self.status[t] = "paused"
        return self._choose(ids)

    def stop_reason(self, trial_id: str) -> StopReason | None:
        return self.reasons.get(trial_id)

    def trial_status(self, trial_id: str) -> str | None:
        return self.status.get(trial_id)

    def seal(self) -> None:
        """No more trials will be added."""
        if not self.sealed:
            self.sealed = True
            self._sealed()

    def take_stops(self) -> list[str]:
        """Trials the core stopped while they were paused or pending; the driver must stop them."""
        out, self._to_stop = self._to_stop, []
        return out

    # ---- helpers -------------------------------------------------------------------------
    def epoch(self, trial_id: str) -> int:
        return len(self.curves[trial_id])

    def loss_at(self, trial_id: str, epoch: int) -> float:
        c = self.curves[trial_id]
        return c[epoch - 1] if 0 < epoch <= len(c) else math.inf

    def alive(self, trial_id: str) -> bool:
        return self.status[trial_id] in LIVE

    def _record(self, trial_id: str, epoch: int, loss: float) -> None:
        c = self.curves[trial_id]
        if epoch < 1:
            raise ValueError(f"trial {trial_id}: epoch must be >= 1, got {epoch}")
        if epoch <= len(c):  # the trial restarted from an earlier checkpoint
            del c[epoch - 1:]
        while len(c) < epoch - 1:  # epochs the driver never reported
            c.append(math.nan)
        v = float(loss)
        c.append(v if math.isfinite(v) else math.inf)

    def _end(self, trial_id: str, status: str, reason: StopReason) -> None:
        was = self.status[trial_id]
        self.status[trial_id] = status
        self.reasons.setdefault(trial_id, reason)
        if status == "stopped" and was in ("paused", "pending") and trial_id != self._reporting:
            self._to_stop.append(trial_id)

    def stop(self, trial_id: str, reason: StopReason) -> None:
        """Stop a live trial (the reporting one gets STOP, a paused one is queued for the driver)."""
        if reason.epoch is None:
            reason = StopReason(reason.outcome, epoch=self.epoch(trial_id), rung=reason.rung,
                                predicted=reason.predicted, rule=reason.rule, detail=reason.detail)
        if self.alive(trial_id):
            self._end(trial_id, "stopped", reason)

    def base_state(self) -> dict[str, Any]:
        return {"kind": self.kind, "max_epochs": self.max_epochs, "curves": json_floats(self.curves),
                "status": self.status, "reasons": {k: r.to_dict() for k, r in self.reasons.items()},
                "sealed": self.sealed,
                "to_stop": self._to_stop}

    def set_base_state(self, state: Mapping[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise ValueError(f"state of a {state.get('kind')!r} core given to a {self.kind!r} core")
        if int(state["max_epochs"]) != self.max_epochs:
            raise ValueError(f"state was saved with max_epochs={state['max_epochs']}, "
                             f"this core has {self.max_epochs}")
        self.curves = {k: [float(x) for x in v] for k, v in state["curves"].items()}
        self.status = dict(state["status"])
        self.reasons = {k: StopReason.from_dict(r) for k, r in state["reasons"].items()}
        self.sealed = bool(state["sealed"])
        self._to_stop = list(state["to_stop"])

    # ---- promotion helpers (ASHA's promote variant, predictive) ----------------------------
    def _first_pending(self, runnable: list[str]) -> str | None:
        return next((t for t in runnable if self.status[t] == "pending"), None)

    def _wound_down(self, free: set[str]) -> bool:
        """No trial will be added, and none is running, pending or paused outside ``free``: what
        is paused in ``free`` can no longer become promotable."""
        return self.sealed and not any(s in ("running", "pending", "paused") and t not in free
                                       for t, s in self.status.items())

    def _stop_unpromoted(self, runnable: list[str], rung_of: Callable[[str], int | None]) -> None:
        for t in runnable:
            if self.status[t] == "paused":
                self.stop(t, StopReason(Outcome.NOT_PROMOTED, rung=rung_of(t), rule="rank"))

    # ---- subclass hooks ------------------------------------------------------------------
    def _added(self, trial_id: str) -> None:
        pass

    def _decide(self, trial_id: str, epoch: int) -> Decision:
        return CONTINUE

    def _choose(self, runnable: list[str]) -> str | None:
        return runnable[0] if runnable else None

    def _trial_ended(self, trial_id: str) -> None:
        pass

    def _sealed(self) -> None:
        pass


def json_floats(curves: Mapping[str, list[float]]) -> dict[str, list]:
    """inf/nan are not JSON; encode them as strings (``float("inf")`` reads them back)."""
    return {k: [x if math.isfinite(x) else str(x) for x in v] for k, v in curves.items()}
