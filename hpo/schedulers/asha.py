"""ASHA: asynchronous successive halving, with epochs as the budget unit.

Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht, Talwalkar, "A System for Massively
Parallel Hyperparameter Tuning", MLSys 2020 (arXiv:1810.05934).

Rungs are at ``grace_period * eta**k`` epochs (below ``max_epochs``); a trial completes at
``max_epochs``.  Two variants:

* ``"stop"`` (early-stopping ASHA, Ray's ``AsyncHyperBandScheduler`` rule): when a trial reaches
  a rung it is compared with the losses recorded at that rung *before* it arrived: it continues
  iff the rung is still empty or its loss is ``<=`` their ``1/eta`` quantile (linear
  interpolation, NaNs ignored); otherwise it is stopped (``Outcome.STOPPED_RUNG`` at rung ``r``).
  Its own loss is recorded afterwards either way.  The cutoff is computed exactly as Ray does
  (the ``1 - 1/eta`` percentile of the negated losses), so decisions agree bit for bit
  (``tests/test_asha_matches_ray.py``).
* ``"promote"`` (the paper's Algorithm 2): a trial PAUSEs at each rung.  A free worker resumes the
  best paused trial that is among the top ``floor(|rung|/eta)`` of its rung, searching rungs from
  the top down; if none qualifies it starts a new trial.  When no trial is running, none is
  pending and no more will be added, the trials still paused are stopped
  (``Outcome.NOT_PROMOTED``).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from hpo.protocols import CONTINUE, PAUSE, STOP, Decision, Outcome, StopReason

from .base import CoreBase

VARIANTS = ("stop", "promote")


def rank_cutoff(prior: list[float], eta: int) -> float:
    """Ray's ASHA cutoff in loss terms: ``-percentile(-prior, 100 * (1 - 1/eta))`` (NaNs ignored);
    ``+inf`` (everyone continues) while the rung is empty or holds only NaNs.  Negation is exact,
    so ``loss <= cutoff`` is Ray's ``-loss >= cutoff_reward`` to the last bit."""
    vals = np.asarray(prior, dtype=float)
    if vals.size == 0 or np.isnan(vals).all():
        return math.inf
    return float(-np.nanpercentile(-vals, (1 - 1 / eta) * 100))


class ASHACore(CoreBase):
    kind = "asha"

    def __init__(self, max_epochs: int, grace_period: int = 1, eta: int = 2, variant: str = "stop"):
        super().__init__(max_epochs)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if eta < 2 or grace_period < 1:
            raise ValueError("need eta >= 2 and grace_period >= 1")
        self.grace_period, self.eta, self.variant = int(grace_period), int(eta), variant
        self.milestones: list[int] = []
        m = self.grace_period
        while m < self.max_epochs:
            self.milestones.append(m)
            m *= self.eta
        # rung milestone -> [(trial_id, loss)] in arrival order
        self.rungs: dict[int, list[tuple[str, float]]] = {m: [] for m in self.milestones}
        self.top_rung: dict[str, int] = {}  # trial -> the highest milestone it is recorded at

    def _decide(self, trial_id: str, epoch: int) -> Decision:
        top = self.top_rung.get(trial_id, 0)
        reached = [m for m in self.milestones if top < m <= epoch]
        if not reached:
            return CONTINUE
        m = reached[-1]
        prior = [v for _, v in self.rungs[m]]  # the rung as it stood before this trial arrived
        for r in reached:  # normally one; several only if the driver skipped epochs
            self.rungs[r].append((trial_id, self.loss_at(trial_id, r)))
        self.top_rung[trial_id] = m
        if self.variant == "stop":
            if self.loss_at(trial_id, m) <= rank_cutoff(prior, self.eta):
                return CONTINUE
            self.stop(trial_id, StopReason(Outcome.STOPPED_RUNG, rung=m, rule="rank"))
            return STOP
        return PAUSE if epoch < self.max_epochs else CONTINUE

    def _promotable(self, m: int) -> list[str]:
        """Paused trials in the top floor(|rung|/eta) of rung ``m`` whose highest rung is ``m``.

        A trial may stand an epoch or more past ``m``: results that arrive while Tune saves a
        paused trial still count, and the trial resumes from there."""
        ranked = sorted(self.rungs[m], key=lambda tv: tv[1])  # stable: earlier arrival wins ties
        top = ranked[: len(ranked) // self.eta]
        return [t for t, _ in top if self.status[t] == "paused" and self.top_rung[t] == m]

    def _choose(self, runnable: list[str]) -> str | None:
        if self.variant == "stop":
            return runnable[0] if runnable else None
        free = set(runnable)
        for m in reversed(self.milestones):
            for t in self._promotable(m):
                if t in free:
                    return t
        t = self._first_pending(runnable)
        if t is None and self._wound_down(free):
            self._stop_unpromoted(runnable, self.top_rung.get)
        return t

    @property
    def uses_pause(self) -> bool:
        return self.variant == "promote"

    def get_state(self) -> dict[str, Any]:
        st = self.base_state()
        st.update(grace_period=self.grace_period, eta=self.eta, variant=self.variant,
                  rungs={str(m): [[t, v if np.isfinite(v) else str(v)] for t, v in r]
                         for m, r in self.rungs.items()})
        return st

    def set_state(self, state: Mapping[str, Any]) -> None:
        if (state.get("grace_period"), state.get("eta"), state.get("variant")) != \
                (self.grace_period, self.eta, self.variant):
            raise ValueError("ASHA state was saved with different options")
        self.set_base_state(state)
        self.rungs = {int(m): [(t, float(v)) for t, v in r] for m, r in state["rungs"].items()}
        self.top_rung = {}
        for m in sorted(self.rungs):
            for t, _ in self.rungs[m]:
                self.top_rung[t] = m
