"""Hyperband epoch anchors (integer bracket arithmetic) and Swift-Hyperband on the MLPF table."""
from __future__ import annotations

import pytest

from hpo.bench.reference_predictor import minmax_nusvr
from hpo.bench.replay import paired_rows, replay
from hpo.bench.synthetic import synthetic_table
from hpo.schedulers.brackets import (bracket_size, hyperband_epochs, hyperband_plan, hyperband_trials,
                                     rung_budget, s_max)
from hpo.schedulers.hyperband import HyperbandCore
from hpo.schedulers.swift import SwiftHyperbandCore
from hpo.bench.table import load_table

ANCHORS = [(100, 2, 3213), (300, 2, 15380), (35, 2, 872), (50, 2, 1245), (81, 3, 1581)]


def test_bracket_table_r100_eta2():
    assert s_max(100, 2) == 6 and s_max(81, 3) == 4 and s_max(80, 3) == 3 and s_max(1, 2) == 0
    assert [p.n for p in hyperband_plan(100, 2)] == [64, 38, 23, 14, 10, 7, 7]
    assert hyperband_plan(100, 2)[0].rungs == (2, 3, 6, 12, 25, 50, 100)  # 12.5 -> 12, 1.5625 -> 2
    assert rung_budget(100, 2, 3, 0) == 12 and rung_budget(5, 2, 1, 0) == 2  # 2.5 -> 2 (half to even)
    assert bracket_size(0, 6, 2) == 7 and hyperband_trials(100, 2) == 163


@pytest.mark.parametrize("R,eta,epochs", ANCHORS)
def test_hyperband_epoch_anchor_formula(R, eta, epochs):
    assert hyperband_epochs(R, eta) == epochs


@pytest.mark.parametrize("R,eta,epochs", ANCHORS)
def test_hyperband_core_consumes_anchor_epochs(R, eta, epochs, mlpf_table):
    table = load_table(str(mlpf_table)) if R <= 100 else synthetic_table(rows=60, epochs=R, seed=1)
    for workers in (1, 7):
        r = replay(HyperbandCore(R, eta), table, max_epochs=R, n_trials=hyperband_trials(R, eta), seed=4,
                   workers=workers)
        assert r.epochs == epochs


def test_paired_rows_depend_only_on_seed():
    assert paired_rows(296, 163, 5) == paired_rows(296, 163, 5)
    assert paired_rows(296, 163, 5) != paired_rows(296, 163, 6)
    assert len(set(paired_rows(296, 163, 0))) == 163  # no repeats while rows last


@pytest.mark.parametrize("seed", [0, 2])
def test_swift_on_mlpf_saves_epochs_and_finds_hyperbands_best(seed, mlpf_table):
    table = load_table(str(mlpf_table))
    hb = replay(HyperbandCore(100, 2), table, max_epochs=100, n_trials=163, seed=seed)
    core = SwiftHyperbandCore(100, minmax_nusvr)
    sw = replay(core, table, max_epochs=100, n_trials=163, seed=seed)
    assert hb.epochs == 3213
    assert 2815 <= sw.epochs < 3213  # between the structural lower bound and Hyperband
    assert sw.chosen_row == hb.chosen_row
    # first round of bracket s=6: 64 trials, r=2, decision at epoch 1, n_next=32 -> 16 reference trials
    # (the 64th trial's decision is the barrier's selection, so it is left out)
    first = [d for t, e, d in sw.log if e == 1 and int(t[1:]) < 63]
    assert first == ["CONTINUE"] * 16 + ["PAUSE"] * 47
    assert {(r, e) for r, e, _ in core.pool.fit_log} == {
        (2, 1), (3, 2), (3, 3), (6, 3), (6, 5), (12, 6), (12, 9), (25, 13), (25, 19), (50, 25), (100, 50)}
    assert sw.stop_reasons.get("stopped_predictor", 0) > 0
