"""The ``predictive`` scheduler's promotion rule on hand-made curves (hpo/schedulers/predictive.py)."""
from __future__ import annotations

import json
import math

import pytest

from hpo.protocols import CONTINUE, Diagnostics, Outcome
from hpo.schedulers import build_core, uses_pause, validate_options
from hpo.schedulers.asha import ASHACore
from hpo.schedulers.predictive import DEFAULTS, PredictiveCore, top_down_rungs
from hpo.schedulers.predictive_model import affine_chain, chain

R = 9  # eta = 3: rungs at epochs 1 and 3; stage 0 maps rung 1 -> rung 3, stage 1 rung 3 -> final
LAX = dict(eta=3, k=2, threshold=0.05, min_pairs=3, min_calib=1, min_coverage=0.0)


def curve(q: float) -> list[float]:
    """Loss q + 1/e: z (median of the last 3 epochs) is q + 1 at rung 1, q + 0.5 at rung 3."""
    return [q + 1.0 / e for e in range(1, R + 1)]


def feed(core, tid: str, c: list[float]) -> list[str]:
    """Report ``c`` epoch by epoch whatever the core says (a warm-up trial)."""
    core.on_trial_add(tid)
    out = [str(core.on_result(tid, e, v)) for e, v in enumerate(c, start=1)]
    return out


def drive(core, curves: dict[str, list[float]]) -> list[tuple[str, int, str]]:
    """One worker: run whatever the core chooses until it chooses nothing."""
    ids = list(curves)
    for t in ids:
        core.on_trial_add(t)
    core.seal()
    events = []
    while True:
        runnable = [t for t in ids if core.trial_status(t) in ("pending", "paused")]
        t = core.choose_trial_to_run(runnable)
        for s in core.take_stops():
            core.on_trial_remove(s)
        if t is None:
            return events
        e = core.epoch(t)
        while True:
            e += 1
            d = str(core.on_result(t, e, curves[t][e - 1]))
            events.append((t, e, d))
            if d != str(CONTINUE):
                break
        if d == "STOP":
            core.on_trial_complete(t)


def trained(**options) -> PredictiveCore:
    """A core that has seen 6 complete curves (q = 1.0 .. 0.5; finals q + 1/9)."""
    core = PredictiveCore(R, **{**LAX, **options})
    for i in range(6):
        assert feed(core, f"w{i}", curve(1.0 - 0.1 * i))[-1] == "STOP"
    return core


def at_rung_one(core, qs) -> list[str]:
    ids = []
    for i, q in enumerate(qs):
        t = f"n{i}"
        core.on_trial_add(t)
        assert str(core.on_result(t, 1, curve(q)[0])) == "PAUSE"
        ids.append(t)
    return ids


def test_rungs_are_geometric_from_the_top_down_to_one_epoch():
    assert top_down_rungs(100, 3) == [1, 4, 11, 33]
    assert top_down_rungs(52, 2) == [1, 2, 3, 6, 13, 26]
    assert top_down_rungs(6, 2) == [1, 2, 3]
    assert top_down_rungs(9, 3) == [1, 3]
    assert top_down_rungs(2, 3) == [1]
    assert PredictiveCore(100, eta=3).rung_epochs == [1, 4, 11, 33]


def test_untrusted_core_is_asha_with_promotions_and_says_so():
    qs = [0.5, 0.9, 0.3, 0.7, 0.6, 0.2, 0.8, 0.4, 0.1, 1.1, 0.05, 0.95]
    curves = {f"t{i:02d}": curve(q) for i, q in enumerate(qs)}
    core = PredictiveCore(R, eta=3, k=1)  # default trust needs 10 pairs and 8 scores per stage
    asha = ASHACore(R, grace_period=1, eta=3, variant="promote")
    assert drive(core, curves) == drive(asha, curves)
    log = core.decision_log()
    assert log and {d["rule"] for d in log} == {"rank"} and all(d["continued"] for d in log)
    assert {core.stop_reason(t).outcome for t in curves if core.trial_status(t) == "stopped"} == {Outcome.NOT_PROMOTED}
    assert isinstance(core, Diagnostics) and "never earned trust" in core.run_notes()[0]


def test_a_small_pool_ends_with_its_top_k_completed():
    qs = [0.5, 0.9, 0.3, 0.7, 0.6, 0.2, 0.8, 0.4, 0.1, 1.1, 0.05, 0.95]
    curves = {f"t{i:02d}": curve(q) for i, q in enumerate(qs)}
    asha = ASHACore(R, grace_period=1, eta=3, variant="promote")
    drive(asha, curves)
    assert sum(asha.trial_status(t) == "completed" for t in curves) < 3  # ASHA ends with fewer
    core = PredictiveCore(R, eta=3, k=3)
    drive(core, curves)
    done = sorted(t for t in curves if core.trial_status(t) == "completed")
    assert len(done) == 3
    assert done == sorted(sorted(curves, key=lambda t: curves[t][0])[:3])  # the best three here
    extra = [d for d in core.decision_log() if d["rule"] == "top_k"]
    assert extra and all(d["continued"] for d in extra)
    assert "top-k" in core.run_notes()[0]


def test_hopeless_trial_in_the_quota_is_stopped_by_the_predictor():
    core = trained()
    # finals so far: 1.111 .. 0.611 -> 2nd best 0.711.  15 newcomers make the quota 7 of 21: the
    # best newcomer (q = 2.0, predicted final 2.111) is in it, but cannot reach the top 2
    ids = at_rung_one(core, [2.0 + 0.01 * i for i in range(15)])
    assert core.choose_trial_to_run(ids) is None
    d = core.decision_log()[-1]
    assert d["trial_id"] == "n0" and d["rule"] == "predictor" and d["horizon"] == R and not d["continued"]
    assert d["predicted"] == pytest.approx(2.111, abs=0.02) and d["reference"] == pytest.approx(0.7111, abs=1e-3)
    r = core.stop_reason("n0")
    assert r.outcome is Outcome.STOPPED_PREDICTOR and r.rule == "predictor" and r.rung == 1
    assert core.take_stops() == ["n0"]


def test_a_trial_that_can_join_the_top_k_is_promoted():
    core = trained()
    ids = at_rung_one(core, [0.55] + [2.0 + 0.01 * i for i in range(14)])
    assert core.choose_trial_to_run(ids) == "n0"  # predicted final 0.661 < 0.711
    d = core.decision_log()[-1]
    assert d["rule"] == "predictor" and d["continued"] and d["p"] > 0.5


def test_threshold_zero_never_vetoes():
    core = trained(threshold=0.0)
    ids = at_rung_one(core, [2.0 + 0.01 * i for i in range(15)])
    assert core.choose_trial_to_run(ids) == "n0"
    assert core.decision_log()[-1]["continued"]


def test_predictions_rank_the_rung():
    core = trained(threshold=0.0)
    # same rung-1 loss, different family extrapolations: the rung is ranked by predicted loss
    ids = at_rung_one(core, [2.0] * 15)
    ranked = core._ranked(0, core._horizon(0))
    keys = [k for k, _, _ in ranked]
    assert keys == sorted(keys)
    assert ranked[0][1].startswith("w")  # the warm-up trials' rung-1 losses were far lower
    h = core._horizon(0)
    assert h > 0  # the predictor is trusted: every key is the chained prediction, not the rung loss
    for key, t, pred in ranked:
        z, f = core.at[t][0][:2]
        assert pred is not None and key == pytest.approx(chain(core.stages, 0, h, z, f)[0], rel=1e-9)


def test_affine_chain_equals_the_chain():
    core = trained()
    aff = affine_chain(core.stages, 0, 2)
    for z, f in ((1.5, 1.1), (2.0, 1.9), (3.0, 2.2)):
        mu, s = chain(core.stages, 0, 2, z, f)
        assert aff[0] + aff[1] * z + aff[2] * f == pytest.approx(mu, rel=1e-9)
        assert aff[3] == pytest.approx(s, rel=1e-9)


def test_fewer_than_k_competitors_are_promoted():
    core = trained(k=10)
    ids = at_rung_one(core, [3.0 + 0.01 * i for i in range(15)])
    assert core.choose_trial_to_run(ids) == "n0"
    assert core.decision_log()[-1]["p"] == 1.0


def test_state_round_trip_and_options():
    core = trained()
    ids = at_rung_one(core, [0.55] + [2.0 + 0.01 * i for i in range(14)])
    text = json.dumps(core.get_state(), allow_nan=False)
    twin = PredictiveCore(R, **LAX)
    twin.set_state(json.loads(text))
    for c in (core, twin):
        assert c.choose_trial_to_run(ids) == "n0"
        assert [str(c.on_result("n0", e, curve(0.55)[e - 1])) for e in (2, 3)] == ["CONTINUE", "PAUSE"]
    assert core.decision_log() == twin.decision_log()
    assert json.dumps(core.get_state()) == json.dumps(twin.get_state())
    with pytest.raises(ValueError):
        PredictiveCore(R, eta=2).set_state(json.loads(text))
    defaults = validate_options("predictive", {}, 100)
    assert defaults == DEFAULTS and PredictiveCore(100).options() == defaults
    assert isinstance(build_core("predictive", options={}, max_epochs=50), PredictiveCore)
    assert uses_pause("predictive", {})
    assert math.isinf(PredictiveCore(R).stages[0].kappa(0))
