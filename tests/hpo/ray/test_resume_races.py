"""Resume without races (issue 15 item 2).

Tune 2.60 files a trial under its status right after ``on_trial_add``.  The adapter may set the
status of a trial Tune restores (PAUSED for one the core holds at a rung, TERMINATED for one it
ended) only while ``Tuner.restore`` re-adds the trials, before the controller's first step; a trial
Tune re-adds later (its retry after a failure: ``on_trial_error`` then ``on_trial_add`` with the
trial already filed as PENDING) is never touched, or Tune's ``assert trial.status == Trial.PENDING``
fails in ``_schedule_trial_actor`` (the intermittent crash of the resume test)."""
from __future__ import annotations

import pytest
from ray.tune.experiment import Trial

from hpo.protocols import Objective
from hpo.ray.scheduler import build_ray_scheduler
from test_schedulers_api import FakeController
from test_schedulers_api import FakeTrial as _FakeTrial


class FakeTrial(_FakeTrial):
    def set_status(self, status):
        self.status = status


def _hyperband(trials):
    sched = build_ray_scheduler("hyperband", objective=Objective("loss", "min"), options={}, max_epochs=4, seed=0)
    ctl = FakeController(trials)
    for t in trials:
        sched.on_trial_add(ctl, t)
    return sched, ctl


def test_restored_statuses_are_set_only_while_tune_restores():
    trials = [FakeTrial(f"t{i}") for i in range(4)]
    sched, ctl = _hyperband(trials)
    assert sched.choose_trial_to_run(ctl) is trials[0]
    trials[0].status = Trial.RUNNING
    assert sched.on_trial_result(ctl, trials[0], {"loss": 0.5, "hpo_epoch": 1}) == "PAUSE"
    state = sched.get_state()

    restored = [FakeTrial(f"t{i}") for i in range(4)]  # Tune requeues every unfinished trial PENDING
    fresh, ctl2 = _hyperband([])
    fresh.set_state(state, curves={"t0": [0.5]})
    ctl2.trials = restored
    for t in restored:
        fresh.on_trial_add(ctl2, t)
    assert restored[0].status == Trial.PAUSED  # held at its rung: not trained past it
    assert [t.status for t in restored[1:]] == [Trial.PENDING] * 3

    fresh.choose_trial_to_run(ctl2)  # the controller runs: the restore is over
    restored[0].status = Trial.PENDING  # e.g. Tune requeued it itself
    fresh.on_trial_add(ctl2, restored[0])
    assert restored[0].status == Trial.PENDING  # filed as PENDING by Tune: left alone


def test_a_retried_trial_stays_pending_and_runs_again():
    trials = [FakeTrial(f"t{i}") for i in range(4)]
    sched, ctl = _hyperband(trials)
    chosen = sched.choose_trial_to_run(ctl)
    chosen.status = Trial.ERROR  # Tune's recovery path: ERROR, on_trial_error, PENDING, on_trial_add
    sched.on_trial_error(ctl, chosen)
    chosen.status = Trial.PENDING
    sched.on_trial_add(ctl, chosen)
    assert chosen.status == Trial.PENDING and sched.core.trial_status(chosen.trial_id) != "removed"
    assert sched.choose_trial_to_run(ctl) is chosen
    chosen.status = Trial.RUNNING  # the final failure: still RUNNING when Tune tells the scheduler
    sched.on_trial_error(ctl, chosen)
    assert sched.core.trial_status(chosen.trial_id) == "removed"
    assert sched.stop_reasons()[chosen.trial_id].outcome.value == "failed"


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.parametrize("attempt", range(20))
def test_resume_twenty_times(tmp_path, attempt):
    """The kill -9 + --resume test of test_resume.py, 20 times: no failure is allowed."""
    from test_resume import test_kill_9_then_resume_matches_uninterrupted_run

    test_kill_9_then_resume_matches_uninterrupted_run(tmp_path)
