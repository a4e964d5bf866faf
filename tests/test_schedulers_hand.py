"""ASHA, Hyperband and Swift-Hyperband decisions against hand-computed rung tables."""
from __future__ import annotations

from hpo.protocols import Outcome

import numpy as np

from hpo.bench.replay import replay
from hpo.bench.synthetic import table_from_curves
from hpo.schedulers.asha import ASHACore
from hpo.schedulers.hyperband import HyperbandCore
from hpo.schedulers.swift import SwiftHyperbandCore

C, P, S = "CONTINUE", "PAUSE", "STOP"

# R = 4, eta = 2: brackets s=2 (4 trials, rungs 1,2,4), s=1 (3 trials, rungs 2,4), s=0 (3 trials, rung 4)
HB_CURVES = [
    [5, 4, 3, 2], [3, 3, 3, 3], [4, 1, 1, 1], [6, 6, 6, 6],      # bracket s=2: t0..t3
    [2, 2, 2, 2], [1, 1.5, .5, .5], [3, .9, .1, .1],             # bracket s=1: t4..t6
    [1, 1, 1, .3], [1, 1, 1, .05], [1, 1, 1, .7],                # bracket s=0: t7..t9
]


def _run(core, curves, max_epochs):
    table = table_from_curves(curves)
    n = len(curves)
    return replay(core, table, max_epochs=max_epochs, n_trials=n, seed=0, rows=list(range(n)))


def _short(r) -> str:
    """A typed StopReason in the hand-written words below."""
    if r.outcome is Outcome.STOPPED_RUNG:
        return f"rung {r.rung}"
    if r.outcome is Outcome.NOT_PROMOTED:
        return f"not promoted from rung {r.rung}"
    if r.outcome is Outcome.STOPPED_PREDICTOR:
        return f"predictor at epoch {r.epoch}"
    return str(r.outcome)


def _reasons(core, n):
    return [_short(core.stop_reason(f"t{i:05d}")) for i in range(n)]


def test_hyperband_hand_computed_rungs():
    core = HyperbandCore(4, eta=2)
    r = _run(core, HB_CURVES, 4)
    # rung 1 of s=2: t1 (3) and t2 (4) survive; rung 2: t2 (1) beats t1 (3); s=1 rung 2: t6 (0.9)
    assert _reasons(core, 10) == ["rung 1", "rung 2", "completed", "rung 1", "rung 2", "rung 2",
                                  "completed", "completed", "completed", "completed"]
    assert r.epochs == 4 * 1 + 2 * 1 + 1 * 2 + 3 * 2 + 1 * 2 + 3 * 4 == 28
    assert r.chosen_row == 8
    bracket0 = [(t, e, d) for t, e, d in r.log if t in ("t00000", "t00001", "t00002", "t00003")]
    assert bracket0 == [("t00000", 1, P), ("t00001", 1, P), ("t00002", 1, P), ("t00003", 1, S),
                        ("t00001", 2, P), ("t00002", 2, C), ("t00002", 3, C), ("t00002", 4, S)]
    assert [d for t, e, d in r.log if t == "t00006"] == [C, C, C, S]  # survivor goes straight on


def test_asha_stop_variant_hand_computed():
    curves = [[5, 4, 4, 3, 3, 3, 3, 3],
              [6, 6, 6, 6, 6, 6, 6, 6],
              [4, 4.5, 4, 4, 4, 4, 4, 4],
              [4.5, 3.9, 3.5, 2.9, 2.8, 2.7, 2.6, 2.5]]
    core = ASHACore(8, grace_period=1, eta=2, variant="stop")
    assert core.milestones == [1, 2, 4]
    r = _run(core, curves, 8)
    # each arrival against the rung as it stood before it (Ray's rule); an empty rung continues
    # rung 1: [] -> 5 ok; [5] -> 6 stops; [5,6] median 5.5 -> 4 ok; [5,6,4] median 5 -> 4.5 ok
    # rung 2: [] -> 4 ok; [4] -> 4.5 stops; [4,4.5] q=4.25 -> 3.9 ok; rung 4: [3] -> 2.9 ok
    assert _reasons(core, 4) == ["completed", "rung 1", "rung 2", "completed"]
    assert r.per_trial_epochs == {"t00000": 8, "t00001": 1, "t00002": 2, "t00003": 8}
    assert r.epochs == 19 and r.chosen_row == 3


def test_asha_promote_variant_hand_computed():
    curves = [[3, 2, 1, 1], [1, 1, 1, 1], [2, 2, 2, 2], [.5, .4, .3, .2]]
    core = ASHACore(4, grace_period=1, eta=2, variant="promote")
    r = _run(core, curves, 4)
    assert r.log == [("t00000", 1, P), ("t00001", 1, P),  # rung 1 = {3, 1}: top-1 is t1 -> promote
                     ("t00001", 2, P),                    # rung 2 = {1}: nobody promotable -> new trial
                     ("t00002", 1, P), ("t00003", 1, P),  # rung 1 top-2 = {t3, t1}: t3 promoted
                     ("t00003", 2, P), ("t00003", 3, C), ("t00003", 4, S)]
    assert _reasons(core, 4) == ["not promoted from rung 1", "not promoted from rung 2",
                                 "not promoted from rung 1", "completed"]
    assert r.epochs == 8


class LastLossPredictor:
    """Test double: predicts the loss at the rung as the last known loss (hand-checkable)."""

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.asarray(X)[:, -1]


def test_swift_hand_computed_decision_points():
    curves = [row[:] for row in HB_CURVES]
    curves[4], curves[5], curves[6] = [2, 1.0, .9, .8], [.5, .6, .6, .6], [1.5, .1, .1, .05]
    curves[7], curves[8], curves[9] = [1, 1, 1, .5], [1, .4, .3, .2], [1, .6, .1, .01]
    core = SwiftHyperbandCore(4, LastLossPredictor, eta=2, d=1, k=0.5, kc=0.5, q=0.25)
    r = _run(core, curves, 4)
    # s=2: decision epochs equal the rung budgets (1-epoch increments) -> plain Hyperband, 8 epochs.
    # s=1 round 0: e=1, t4 is the reference (loss 1.0 at rung 2); t5 predicted .5 < 1.0 continues,
    #   t6 predicted 1.5 stops at epoch 1 (a predictor mistake: it would have been best); t5 wins rung 2.
    # s=0: e=2, t7 reference (.5 at 4); t8 predicted .4 continues; t9 predicted .6 stops at epoch 2.
    assert _reasons(core, 10) == ["rung 1", "rung 2", "completed", "rung 1", "rung 2", "completed",
                                  "predictor at epoch 1", "completed", "completed", "predictor at epoch 2"]
    assert r.epochs == 8 + (2 + 4 + 1) + (4 + 4 + 2) == 25
    assert r.chosen_row == 8
    assert [tuple(x[:2]) for x in core.pool.fit_log] == [(1, 1), (2, 2), (4, 3), (2, 1), (4, 2)]
