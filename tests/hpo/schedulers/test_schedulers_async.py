"""The Ray adapter under Tune's asynchronous event order, without Ray.

``TuneLikeController`` mimics what Tune 2.60 does around a scheduler: a trial told PAUSE keeps
RUNNING until its checkpoint is saved (and may report once more meanwhile), results arrive from the
running trials in random order, and a free slot is offered to ``choose_trial_to_run`` every step.
Every pausing scheduler must bring every trial to an end under any such order; a trial left paused
with nothing running is the hang seen once in CI (a rung cut dropped a trial whose pause was in flight).
"""
from __future__ import annotations

import random

import pytest
from ray.tune.experiment import Trial

from hpo import schedulers as S
from hpo.protocols import Objective
from hpo.ray.scheduler import build_ray_scheduler


class Tr:
    def __init__(self, tid):
        self.trial_id, self.status, self.epoch, self.pausing = tid, Trial.PENDING, 0, False


class Finished:
    @staticmethod
    def is_finished():
        return True


class TuneLikeController:
    def __init__(self, sched, n_trials, slots, seed, max_epochs):
        self.sched, self.slots, self.rng, self.max_epochs = sched, slots, random.Random(seed), max_epochs
        self.trials = [Tr(f"t{i:02d}") for i in range(n_trials)]
        self.quality = {t.trial_id: self.rng.random() for t in self.trials}
        self.search_alg = Finished()
        for t in self.trials:
            sched.on_trial_add(self, t)

    # the whitelisted controller surface
    def get_trials(self):
        return self.trials

    def stop_trial(self, trial):
        assert trial.status in (Trial.PENDING, Trial.PAUSED), f"stop_trial on a {trial.status} trial"
        trial.status = Trial.TERMINATED

    def _loss(self, t):
        return self.quality[t.trial_id] + 1.0 / t.epoch + 0.01 * self.rng.random()

    def _report(self, t):
        t.epoch += 1
        decision = self.sched.on_trial_result(self, t, {"loss": self._loss(t), "hpo_epoch": t.epoch})
        if decision == "STOP" or (decision == "CONTINUE" and t.epoch >= self.max_epochs):
            t.status, t.pausing = Trial.TERMINATED, False
            self.sched.on_trial_complete(self, t, {})
        elif decision == "PAUSE":
            t.pausing = True

    def run(self, max_steps=20_000) -> int:
        for step in range(max_steps):
            running = [t for t in self.trials if t.status == Trial.RUNNING]
            if len(running) < self.slots:
                chosen = self.sched.choose_trial_to_run(self)
                if chosen is not None:
                    chosen.status, chosen.pausing = Trial.RUNNING, False
                    continue
            if not running:
                return step
            t = self.rng.choice(running)
            if t.pausing and self.rng.random() < 0.7:
                t.status, t.pausing = Trial.PAUSED, False  # checkpoint saved, actor stopped
            elif t.pausing and t.epoch >= self.max_epochs:
                continue
            else:
                self._report(t)  # a running trial, or one whose pause is still in flight
        raise AssertionError("did not finish")


OPTIONS = {"hyperband": {"eta": 2}, "swift": {"eta": 2, "d": 3},
           "asha": {"variant": "promote", "grace_period": 1, "reduction_factor": 2},
           "predictive": {"eta": 2, "min_pairs": 3, "min_calib": 2, "min_coverage": 0.0}}


def _build(name, max_epochs):
    opts = OPTIONS[name]
    return build_ray_scheduler(name, objective=Objective("loss", "min"), options=opts, max_epochs=max_epochs,
                               seed=0, predictor_factory=_ridge if name == "swift" else None)


def _ridge():
    from sklearn.linear_model import Ridge

    return Ridge(alpha=1.0)


@pytest.mark.parametrize("name", ["hyperband", "swift", "asha", "predictive"])
@pytest.mark.parametrize("seed", range(12))
def test_every_trial_ends_under_random_async_order(name, seed):
    R = 8
    sched = _build(name, R)
    assert S.uses_pause(name, OPTIONS[name])  # every one of these pauses trials at rungs
    n = S.planned_num_samples(name, OPTIONS[name], R) or 12
    ctl = TuneLikeController(sched, n, slots=1 + seed % 3, seed=seed, max_epochs=R)
    ctl.run()
    left = [(t.trial_id, t.status, t.epoch) for t in ctl.trials if t.status != Trial.TERMINATED]
    assert not left, f"trials never ended (the run would hang): {left}"
    assert sum(t.epoch >= R for t in ctl.trials) >= 1


@pytest.mark.parametrize("name", ["hyperband", "swift", "asha", "predictive"])
@pytest.mark.parametrize("R", [8, 9, 27])
def test_wider_sweep_of_async_orders(name, R):
    """60 seeds per scheduler and R, 1-4 slots (540 runs in all, a few seconds)."""
    n = S.planned_num_samples(name, OPTIONS[name], R) or 12
    for seed in range(60):
        ctl = TuneLikeController(_build(name, R), n, slots=1 + seed % 4, seed=seed, max_epochs=R)
        ctl.run(200_000)
        left = [t.trial_id for t in ctl.trials if t.status != Trial.TERMINATED]
        assert not left, f"seed {seed}: trials never ended: {left}"
