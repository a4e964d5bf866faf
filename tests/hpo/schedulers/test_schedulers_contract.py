"""Every scheduler core through the same SchedulerCore API, on a synthetic curve table."""
from __future__ import annotations

import json

import pytest

from hpo.bench.reference_predictor import minmax_nusvr
from hpo.bench.replay import replay
from hpo.bench.synthetic import synthetic_table
from hpo.protocols import Outcome, SchedulerCore
from hpo.schedulers import build_core
from hpo.schedulers.brackets import hyperband_epochs, hyperband_trials

R = 16
CORES = {
    "asha-stop": lambda: build_core("asha", options={"variant": "stop"}, max_epochs=R),
    "asha-promote": lambda: build_core("asha", options={"variant": "promote", "grace_period": 2},
                                       max_epochs=R),
    "hyperband": lambda: build_core("hyperband", options={"eta": 2}, max_epochs=R),
    "swift": lambda: build_core("swift", options={"d": 4}, max_epochs=R, predictor_factory=minmax_nusvr),
    # small trust thresholds so that the predictor rule, not only the rank fallback, runs here
    "predictive": lambda: build_core("predictive", options={"eta": 2, "min_pairs": 3, "min_calib": 2,
                                                            "min_coverage": 0.0}, max_epochs=R),
}


@pytest.fixture(scope="module")
def table():
    return synthetic_table(rows=40, epochs=R, seed=3)


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("name", list(CORES))
def test_core_contract_invariants(name, workers, table):
    core = CORES[name]()
    assert isinstance(core, SchedulerCore)
    n = hyperband_trials(R, 2)
    r = replay(core, table, max_epochs=R, n_trials=n, seed=1, workers=workers)  # raises on deadlock
    assert all(1 <= e <= R for e in r.per_trial_epochs.values())
    assert r.epochs == sum(r.per_trial_epochs.values())
    for t in r.per_trial_epochs:  # each trial ended, stopped or completed, with a reason
        assert core.status[t] in ("stopped", "completed", "removed")
        assert core.stop_reason(t)
        assert (core.status[t] == "completed") == (r.per_trial_epochs[t] == R)
    assert r.chosen_row is not None
    assert core.take_stops() == []
    if name == "hyperband":
        assert r.epochs == hyperband_epochs(R, 2)
    if name == "swift":
        assert r.epochs < hyperband_epochs(R, 2)
        assert core.pool.fit_log  # the predictor was used
    if name == "predictive":
        rules = {d["rule"] for d in core.decision_log()}
        assert {"rank", "predictor"} <= rules <= {"rank", "predictor", "top_k"}


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("name", list(CORES))
def test_state_round_trip_mid_run_gives_identical_decisions(name, workers, table):
    n = hyperband_trials(R, 2)
    straight = replay(CORES[name](), table, max_epochs=R, n_trials=n, seed=2, workers=workers)
    cut = len(straight.log) // 2
    resumed = replay(CORES[name](), table, max_epochs=R, n_trials=n, seed=2, workers=workers,
                     restore_at=cut, make_core=CORES[name])
    assert resumed.log == straight.log
    assert resumed.chosen_row == straight.chosen_row


@pytest.mark.parametrize("name", list(CORES))
def test_state_is_strict_json_and_rejects_other_options(name, table):
    core = CORES[name]()
    replay(core, table, max_epochs=R, n_trials=12, seed=0)
    text = json.dumps(core.get_state(), allow_nan=False)
    other = build_core("hyperband", options={"eta": 3}, max_epochs=R)
    with pytest.raises(ValueError):
        other.set_state(json.loads(text))


@pytest.mark.parametrize("name", list(CORES))
def test_non_finite_loss_stops_trial_as_worst(name):
    core = CORES[name]()
    for t in ("a", "b"):
        core.on_trial_add(t)
    assert core.on_result("a", 1, float("nan")) == "STOP"
    assert core.stop_reason("a").outcome is Outcome.NON_FINITE
    assert core.on_result("a", 2, 1.0) == "STOP"  # stays stopped
    assert core.on_result("b", 1, 1.0) in ("CONTINUE", "PAUSE")
