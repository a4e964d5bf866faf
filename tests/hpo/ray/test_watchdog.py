"""The stall guard: a run whose scheduler never resumes its paused trials ends with a clear error."""
from __future__ import annotations

import pytest
from ray.tune.experiment import Trial

import hpo
from hpo.schedulers.hyperband import HyperbandCore
from hpo.ray.scheduler import CoreTrialScheduler
from hpo.ray.watchdog import StallGuard


class T:
    def __init__(self, tid, status):
        self.trial_id, self.status = tid, status


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_guard_fires_only_after_paused_and_idle_for_the_whole_time():
    clock = Clock()
    g = StallGuard(seconds=30, clock=clock)
    g.observe([T("a", "PAUSED"), T("b", "RUNNING")])  # something runs: fine
    clock.now = 100
    g.observe([T("a", "PAUSED"), T("b", "RUNNING")])
    assert not g.stop_all()
    g.observe([T("a", "PAUSED"), T("b", "TERMINATED")])  # idle starts at 100
    clock.now = 120
    g.observe([T("a", "PAUSED"), T("b", "TERMINATED")])
    assert not g.stop_all()
    clock.now = 125
    g.observe([T("a", "PENDING"), T("b", "TERMINATED")])  # resumed: the idle period is over
    clock.now = 140
    g.observe([T("a", "PAUSED"), T("b", "TERMINATED")])  # idle again from 140
    clock.now = 169
    g.observe([T("a", "PAUSED"), T("b", "TERMINATED")])
    assert not g.stop_all()
    clock.now = 170
    g.observe([T("a", "PAUSED"), T("b", "TERMINATED")])
    assert g.stop_all() and g.stalled == ["a"] and "a" in g.message()
    assert not g("a", {})  # never stops single trials
    g.reset()
    assert not g.stop_all()


def test_guard_ignores_finished_runs_and_can_be_switched_off(monkeypatch):
    clock = Clock()
    g = StallGuard(seconds=1, clock=clock)
    for clock.now in (0, 5, 10):
        g.observe([T("a", "TERMINATED"), T("b", "ERROR")])
    assert not g.stop_all()
    monkeypatch.setenv("HPO_STALL_TIMEOUT_S", "0")
    off = StallGuard(clock=clock)
    for clock.now in (0, 500):
        off.observe([T("a", "PAUSED")])
    assert off.seconds == 0 and not off.stop_all()
    monkeypatch.setenv("HPO_STALL_TIMEOUT_S", "7.5")
    assert StallGuard().seconds == 7.5


class NeverResumes(CoreTrialScheduler):
    """A deliberately broken pausing scheduler: it starts new trials but never resumes paused ones."""
    uses_pause = True

    def __init__(self):
        super().__init__(HyperbandCore(max_epochs=4, eta=2), metric="loss", mode="min")

    def choose_trial_to_run(self, tune_controller):
        chosen = super().choose_trial_to_run(tune_controller)
        return chosen if chosen is not None and chosen.status == Trial.PENDING else None


def steps(config):
    state = hpo.get_checkpoint() or {"epoch": 0}
    for epoch in range(state["epoch"], config["max_epochs"]):
        hpo.report(loss=config["x"] + 1.0 / (epoch + 1), checkpoint={"epoch": epoch + 1})


@pytest.mark.ray
def test_stalled_run_stops_writes_results_and_raises(ray_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("HPO_STALL_TIMEOUT_S", "3")
    with pytest.raises(hpo.ExperimentStalled, match="paused trial"):
        hpo.tune(steps, space={"x": hpo.uniform(0, 1)}, metric="loss", mode="min", num_samples=4, max_epochs=4,
                 scheduler=NeverResumes(), seed=0, storage=str(tmp_path), name="stall", verbose=False)
    res = hpo.load_results(tmp_path / "stall")
    assert len(res.trials) == 4 and (res.trials["epochs"] >= 1).all()
    stalled = res.trials[res.trials["outcome"] == "stalled"]
    assert len(stalled) >= 1  # the rung survivors left paused
