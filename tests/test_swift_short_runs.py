"""Swift-Hyperband's ``d`` scales with the run, and a run whose predictor never decided says so."""
from __future__ import annotations

import pytest

from hpo.bench.reference_predictor import minmax_nusvr
from hpo.bench.replay import replay
from hpo.bench.synthetic import synthetic_table
from hpo.protocols import Diagnostics
from hpo.schedulers import build_core
from hpo.schedulers.brackets import hyperband_trials
from hpo.schedulers.swift import effective_d


@pytest.mark.parametrize("R,eta,d,expected", [(100, 2, 15, 15), (12, 2, 15, 4), (8, 2, 15, 4),
                                              (27, 3, 15, 9), (9, 3, 15, 3), (2, 2, 15, 2),
                                              (100, 2, 5, 5)])
def test_effective_d_rule(R, eta, d, expected):
    # min(d, max(2, n_max // eta)), n_max = trials in Hyperband's largest bracket
    assert effective_d(d, R, eta) == expected


def _run(R, options, n_trials=None):
    core = build_core("swift", options=options, max_epochs=R, predictor_factory=minmax_nusvr)
    replay(core, synthetic_table(rows=60, epochs=R, seed=5), max_epochs=R,
           n_trials=n_trials or hyperband_trials(R, options.get("eta", 2)), seed=0)
    return core


def test_default_d_fires_on_twelve_epoch_runs_and_says_d_was_lowered():
    core = _run(12, {})
    assert core.d == 15 and core.d_eff == 4
    assert core.pool.fit_log and core.decision_log()  # the predictor decided
    assert any(not d["continued"] for d in core.decision_log())
    notes = core.run_notes()
    assert isinstance(core, Diagnostics)
    assert any("d lowered from 15 to 4" in n for n in notes)
    assert not any("never made a decision" in n for n in notes)


def test_run_without_a_predictor_decision_says_so():
    core = _run(12, {}, n_trials=3)  # 3 trials, 4 curves needed: all are reference trials
    assert core.decision_log() == []
    assert any("never made a decision" in n for n in core.run_notes())
