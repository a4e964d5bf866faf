"""Successive-halving rung bookkeeping for one Hyperband bracket, with resumable trials.

Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar, JMLR 18(185), 2018 (Hyperband, inner loop);
Jamieson & Talwalkar, AISTATS 2016 (successive halving).

A bracket owns up to ``n`` trials.  Round ``i`` trains the round's trials (in dispatch order) to
``r_i`` epochs; trials that get there first PAUSE.  When every trial of the round has reached
``r_i`` (or died), the round is cut: the best ``max(floor(len(round) / eta), 1)`` trials with a
finite loss at ``r_i`` go on to round ``i + 1`` in ascending-loss order; the others are stopped
as ``Outcome.STOPPED_RUNG`` at rung ``r_i``.  Trials that reach ``R`` (the last rung) complete.

The bracket reads curves and statuses from its core (``hpo.schedulers.base.CoreBase``) and
never stores them itself; ``get_state`` holds only ids and counters (JSON).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from hpo.protocols import Outcome, StopReason

from .base import LIVE


class SHBracket:
    continue_across_rounds = True  # a survivor may go straight on without a PAUSE

    def __init__(self, core, index: int, s: int, n: int, rungs: tuple[int, ...], eta: int):
        self.core, self.index, self.s, self.n, self.rungs, self.eta = core, index, s, n, tuple(rungs), eta
        self.members: list[str] = []
        self.round = 0
        self.order: list[str] = []
        self.closed = False
        self.done = False
        self.finalists: list[str] = []

    # ---- round geometry ------------------------------------------------------------------
    @property
    def r_i(self) -> int:
        return self.rungs[self.round]

    @property
    def r_prev(self) -> int:
        return self.rungs[self.round - 1] if self.round else 0

    @property
    def keep(self) -> int:
        return max(len(self.order) // self.eta, 1)

    def full(self) -> bool:
        return len(self.members) >= self.n

    def add(self, trial_id: str) -> None:
        if self.closed or self.full():
            raise RuntimeError(f"bracket {self.index} cannot take more trials")
        self.members.append(trial_id)
        self.order.append(trial_id)
        self._joined(trial_id)

    # ---- per-trial queries -----------------------------------------------------------------
    def target(self, trial_id: str) -> int:
        """Epoch this trial should train to now (it PAUSEs there)."""
        return self.r_i if trial_id in self.order else 0

    def on_progress(self, trial_id: str, epoch: int) -> None:
        """A trial of the current round reported ``epoch``."""

    # ---- transitions -----------------------------------------------------------------------
    def advance(self) -> bool:
        """Close the bracket / finish a round when possible; True if anything changed."""
        if self.done:
            return False
        if not self.closed:
            if not (self.full() or self.core.sealed):
                return False
            self.closed = True
            if not self.order:
                self.done = True
            return True
        return self._step()

    def _step(self) -> bool:
        c = self.core
        if all(not c.alive(t) or c.epoch(t) >= self.r_i for t in self.order):
            self._cut()
            return True
        return False

    def _rung_loss(self, trial_id: str) -> float:
        c = self.core
        ok = c.status[trial_id] in LIVE or c.status[trial_id] == "completed"
        return c.loss_at(trial_id, self.r_i) if ok and c.epoch(trial_id) >= self.r_i else math.inf

    def _cut(self) -> None:
        losses = {t: self._rung_loss(t) for t in self.order}
        ranked = sorted(self.order, key=lambda t: losses[t])  # stable: dispatch order breaks ties
        survivors = [t for t in ranked[: self.keep] if math.isfinite(losses[t])]
        last = self.round == self.s
        for t in self.order:
            if t not in survivors and not (last and self.core.epoch(t) >= self.r_i):
                self.core.stop(t, StopReason(Outcome.STOPPED_RUNG, rung=self.r_i, rule="rank"))  # trials at R complete instead
        if self.round == self.s:
            self.done, self.finalists, self.order = True, survivors, []
            return
        self.round += 1
        self.order = survivors
        self._round_started()

    # ---- subclass hooks ------------------------------------------------------------------
    def _joined(self, trial_id: str) -> None:
        pass

    def _round_started(self) -> None:
        pass

    # ---- state -----------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"index": self.index, "s": self.s, "n": self.n, "rungs": list(self.rungs),
                "members": self.members, "round": self.round, "order": self.order,
                "closed": self.closed, "done": self.done, "finalists": self.finalists}

    def set_state(self, st: Mapping[str, Any]) -> None:
        self.members, self.round, self.order = list(st["members"]), int(st["round"]), list(st["order"])
        self.closed, self.done, self.finalists = bool(st["closed"]), bool(st["done"]), list(st["finalists"])
