"""Module API (validation, planning) and the Ray adapter with a fake controller (no cluster)."""
from __future__ import annotations

import pytest
from ray.tune.experiment import Trial

import hpo.schedulers as S
from hpo.errors import ConfigError
from hpo.protocols import Objective, Outcome, StopReason
from hpo.ray.scheduler import CoreTrialScheduler, build_ray_scheduler


def test_available_and_flags():
    from hpo.components import names, spec

    assert names("scheduler") == ["fifo", "asha", "hyperband", "swift", "predictive"]
    assert S.uses_pause("hyperband") and S.uses_pause("swift") and not S.uses_pause("asha")
    assert S.uses_pause("asha", {"variant": "promote"}) and not S.uses_pause("fifo")
    assert spec("scheduler", "swift").needs_predictor and not spec("scheduler", "hyperband").needs_predictor
    assert S.planned_num_samples("hyperband", {}, 100) == 163
    assert S.planned_num_samples("swift", {"eta": 3}, 81) == 81 + 34 + 15 + 8 + 5
    assert S.planned_num_samples("asha", {}, 100) is None


def test_defaults():
    assert S.validate_options("asha", {}, 10) == {"grace_period": 1, "reduction_factor": 2, "variant": "stop"}
    assert S.validate_options("asha", {"eta": 3}, 10)["reduction_factor"] == 3
    assert S.validate_options("hyperband", {}, 10) == {"eta": 2}
    assert S.validate_options("swift", {}, 100) == {"eta": 2, "d": 15, "k": 0.5, "kc": 0.5, "q": 0.25,
                                                    "refit": False}


@pytest.mark.parametrize("name,opts,key", [
    ("asha", {"grace": 1}, "scheduler.grace"),
    ("asha", {"grace_period": 1.5}, "scheduler.grace_period"),
    ("asha", {"grace_period": True}, "scheduler.grace_period"),
    ("asha", {"grace_period": 11}, "scheduler.grace_period"),
    ("asha", {"variant": "pause"}, "scheduler.variant"),
    ("asha", {"eta": 2, "reduction_factor": 2}, "scheduler.eta"),
    ("asha", {"reduction_factor": 1}, "scheduler.reduction_factor"),
    ("hyperband", {"eta": 1}, "scheduler.eta"),
    ("hyperband", {"eta": "2"}, "scheduler.eta"),
    ("hyperband", {"d": 3}, "scheduler.d"),
    ("swift", {"q": 1.5}, "scheduler.q"),
    ("swift", {"kc": 0}, "scheduler.kc"),
    ("swift", {"refit": "yes"}, "scheduler.refit"),
    ("swift", {"d": 1}, "scheduler.d"),
    ("fifo", {"eta": 2}, "scheduler.eta"),
])
def test_bad_options_name_the_key(name, opts, key):
    with pytest.raises(ConfigError) as exc:
        S.validate_options(name, opts, 10)
    assert exc.value.key == key


def test_swift_without_predictor_is_a_config_error():
    with pytest.raises(ConfigError):
        S.build_core("swift", options={}, max_epochs=10, seed=0)


class FakeController:
    """The whitelisted surface of Tune's controller wrapper: get_trials, search_alg, stop_trial."""

    def __init__(self, trials):
        self.trials, self.stopped = trials, []
        self.search_alg = None

    def get_trials(self):
        return self.trials

    def stop_trial(self, trial):
        self.stopped.append(trial.trial_id)
        trial.status = Trial.TERMINATED


class FakeTrial:
    def __init__(self, tid):
        self.trial_id, self.status = tid, Trial.PENDING


def _adapter(mode="min", R=4):
    sched = build_ray_scheduler("hyperband", objective=Objective("loss", mode), options={}, max_epochs=R, seed=0)
    trials = [FakeTrial(f"t{i}") for i in range(10)]
    ctl = FakeController(trials)
    for t in trials:
        sched.on_trial_add(ctl, t)
    return sched, trials, ctl


def test_adapter_maps_ids_negates_max_and_stops_paused_losers():
    sched, trials, ctl = _adapter(mode="max")
    assert isinstance(sched, CoreTrialScheduler) and not sched.supports_buffered_results
    assert sched.set_search_properties("loss", "max") and not sched.set_search_properties("acc", "max")
    assert sched.choose_trial_to_run(ctl) is trials[0] and sched.choose_trial_to_run(ctl) is trials[0]
    decisions = []
    for t, acc in zip(trials[:4], [0.1, 0.9, 0.5, 0.2]):  # bracket s=2, rung 1: keep 2 (max mode)
        t.status = Trial.RUNNING
        decisions.append(sched.on_trial_result(ctl, t, {"loss": acc, "hpo_epoch": 1}))
        if decisions[-1] == "PAUSE":
            t.status = Trial.PAUSED
    assert decisions == ["PAUSE", "PAUSE", "PAUSE", "STOP"]
    assert ctl.stopped == ["t0"]  # the paused loser; t3 got STOP directly
    assert {t: (r.outcome, r.rung) for t, r in sched.stop_reasons().items()} == \
        {"t0": (Outcome.STOPPED_RUNG, 1), "t3": (Outcome.STOPPED_RUNG, 1)}
    assert sched.choose_trial_to_run(ctl) is trials[1]  # round 2 starts with the best (0.9)


def test_adapter_fails_the_trial_on_a_missing_metric_and_stops_non_finite():
    """A result without the metric or the epoch fails that trial (STOP, FAILED with the reason);
    it no longer raises (which ended the whole run with a TuneError)."""
    sched, trials, ctl = _adapter()
    for t in trials[:3]:
        t.status = Trial.RUNNING
    assert sched.on_trial_result(ctl, trials[0], {"val_loss": 1.0, "hpo_epoch": 1}) == "STOP"
    assert sched.on_trial_result(ctl, trials[1], {"loss": 1.0, "training_iteration": 1}) == "STOP"
    reasons = sched.stop_reasons()
    assert reasons["t0"].outcome is Outcome.FAILED and "'loss'" in reasons["t0"].detail \
        and "val_loss" in reasons["t0"].detail
    assert reasons["t1"].outcome is Outcome.FAILED and "hpo_epoch" in reasons["t1"].detail
    assert sched.on_trial_result(ctl, trials[2], {"loss": float("inf"), "hpo_epoch": 1}) == "STOP"
    assert sched.stop_reasons()["t2"].outcome is Outcome.NON_FINITE


def test_adapter_state_round_trip():
    sched, trials, ctl = _adapter()
    trials[0].status = Trial.RUNNING
    sched.on_trial_result(ctl, trials[0], {"loss": 1.0, "hpo_epoch": 1})
    state = sched.get_state()
    fresh = build_ray_scheduler("hyperband", objective=Objective("loss", "min"), options={}, max_epochs=4,
                                seed=0)
    fresh.set_state(state, curves={"t0": [1.0]})
    assert fresh.get_state() == state


def test_adapter_stops_a_loser_whose_pause_was_still_in_flight():
    """Tune pauses asynchronously: a trial told PAUSE stays RUNNING until its checkpoint is saved.
    If a rung cut stops it in that window, the stop must still reach Tune once the trial is PAUSED
    (a dropped stop left the trial paused forever and the experiment hung)."""
    sched, trials, ctl = _adapter()
    for t, loss in zip(trials[:4], [0.9, 0.1, 0.5, 0.8]):  # bracket s=2, rung 1: keep 2
        t.status = Trial.RUNNING
        decision = sched.on_trial_result(ctl, t, {"loss": loss, "hpo_epoch": 1})
        if decision == "PAUSE" and t is not trials[0]:
            t.status = Trial.PAUSED  # t0's pause is still being saved when the cut happens
    assert ctl.stopped == [] and trials[0].status == Trial.RUNNING
    trials[0].status = Trial.PAUSED  # Tune finished pausing t0
    assert sched.choose_trial_to_run(ctl) is trials[1]
    assert ctl.stopped == ["t0"] and trials[0].status == Trial.TERMINATED
    assert sched.stop_reasons()["t0"] == StopReason(Outcome.STOPPED_RUNG, epoch=1, rung=1, rule="rank")
