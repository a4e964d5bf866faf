"""Synchronous Hyperband over resumable trials (epochs = budget unit, minimise).

Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar, "Hyperband: A Novel Bandit-Based Approach to
Hyperparameter Optimization", JMLR 18(185), 2018.

Each added trial takes the next free slot of the brackets ``s = s_max .. 0``
(``hpo.schedulers.brackets``); once every bracket is full, a new Hyperband iteration starts
(brackets again from ``s_max``).  ``choose_trial_to_run`` favours the earliest unfinished bracket
and, inside it, the current round's dispatch order, so with one worker the run is the sequential
reference algorithm; with more workers, free workers take work from later brackets instead of
idling at a round barrier.
"""
from __future__ import annotations

from typing import Any, Mapping

from hpo.protocols import CONTINUE, PAUSE

from .base import CoreBase
from .brackets import hyperband_plan
from .successive_halving import SHBracket


class HyperbandCore(CoreBase):
    kind = "hyperband"
    uses_pause = True
    bracket_class = SHBracket

    def __init__(self, max_epochs: int, eta: int = 2):
        super().__init__(max_epochs)
        self.eta = int(eta)
        self.plan = hyperband_plan(self.max_epochs, self.eta)
        self.brackets: list[SHBracket] = []
        self.bracket_of: dict[str, int] = {}

    def _new_bracket(self) -> SHBracket:
        p = self.plan[len(self.brackets) % len(self.plan)]
        return self.bracket_class(self, len(self.brackets), p.s, p.n, p.rungs, self.eta)

    def _added(self, trial_id: str) -> None:
        if not self.brackets or self.brackets[-1].closed or self.brackets[-1].full():
            self.brackets.append(self._new_bracket())
        b = self.brackets[-1]
        b.add(trial_id)
        self.bracket_of[trial_id] = b.index
        self._advance()

    def _decide(self, trial_id: str, epoch: int) -> str:
        b = self.brackets[self.bracket_of[trial_id]]
        round_before = b.round
        if trial_id in b.order:
            b.on_progress(trial_id, epoch)
        self._advance()
        if not self.alive(trial_id):
            return PAUSE  # the base turns a stopped trial into STOP
        if b.target(trial_id) > epoch:
            if b.round != round_before and not b.continue_across_rounds:
                return PAUSE
            return CONTINUE
        return PAUSE

    def _advance(self) -> None:
        changed = True
        while changed:
            changed = False
            for b in self.brackets:
                while b.advance():
                    changed = True

    def _trial_ended(self, trial_id: str) -> None:
        self._advance()

    def _sealed(self) -> None:
        self._advance()

    def _choose(self, runnable: list[str]) -> str | None:
        free = set(runnable)
        for b in self.brackets:
            if b.done:
                continue
            for t in b.order:
                if t in free and b.target(t) > self.epoch(t):
                    return t
        return None

    def best_trial(self) -> str | None:
        """Among trials that reached ``max_epochs``, the one with the lowest loss there."""
        done = [t for t, c in self.curves.items() if len(c) >= self.max_epochs]
        return min(done, key=lambda t: self.curves[t][self.max_epochs - 1], default=None)

    def brackets_done(self) -> bool:
        return all(b.done for b in self.brackets)

    def get_state(self) -> dict[str, Any]:
        st = self.base_state()
        st.update(eta=self.eta, brackets=[b.get_state() for b in self.brackets])
        return st

    def set_state(self, state: Mapping[str, Any]) -> None:
        if int(state.get("eta", -1)) != self.eta:
            raise ValueError(f"state was saved with eta={state.get('eta')}, this core has {self.eta}")
        self.set_base_state(state)
        self.brackets, self.bracket_of = [], {}
        for bs in state["brackets"]:
            b = self._new_bracket()
            b.set_state(bs)
            self.brackets.append(b)
            for t in b.members:
                self.bracket_of[t] = b.index
