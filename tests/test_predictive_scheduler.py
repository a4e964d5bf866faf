"""The ``predictive`` scheduler's decision rule on hand-made curves (hpo/schedulers/predictive.py)."""
from __future__ import annotations

import json
import math

import pytest

from hpo.protocols import Diagnostics, Outcome
from hpo.schedulers import build_core, validate_options
from hpo.schedulers.asha import ASHACore
from hpo.schedulers.predictive import PredictiveCore

R = 4  # eta = 2: rungs at epochs 1 and 2; stage 0 maps rung 1 -> rung 2, stage 1 rung 2 -> final


def curve(q: float) -> list[float]:
    """Loss q + 1/e: z (median of the last 3 epochs) is q + 1 at rung 1, q + 0.75 at rung 2."""
    return [q + 1.0 / e for e in range(1, R + 1)]


def run_trial(core, tid: str, c: list[float]) -> list[str]:
    core.on_trial_add(tid)
    out = []
    for e, v in enumerate(c, start=1):
        d = str(core.on_result(tid, e, v))
        out.append(d)
        if d == "STOP":
            core.on_trial_complete(tid)
            break
    return out


def trained(n: int = 6, **options) -> PredictiveCore:
    """A core that has seen ``n`` complete curves, each better than the last (so the rank rule
    lets every one through and every stage gets pairs)."""
    opts = dict(eta=2, k=2, threshold=0.05, min_pairs=3, min_calib=1, min_coverage=0.0)
    opts.update(options)
    core = PredictiveCore(R, **opts)
    for i in range(n):
        assert run_trial(core, f"w{i}", curve(1.0 - 0.1 * i)) == ["CONTINUE"] * 3 + ["STOP"]
    return core


def test_untrusted_core_is_rays_asha_and_says_so():
    core = PredictiveCore(16, eta=2)  # default trust needs 10 pairs and 8 scores per stage
    asha = ASHACore(16, grace_period=1, eta=2, variant="stop")
    qs = [0.5, 0.9, 0.3, 0.7, 0.6, 0.2, 0.8, 0.4]
    for i, q in enumerate(qs):
        c = [q + 1.0 / e for e in range(1, 17)]
        assert run_trial(core, f"t{i}", c) == run_trial(asha, f"t{i}", c)
    assert {d["rule"] for d in core.decision_log()} == {"rank"}
    stopped = [t for t in core.status if core.status[t] == "stopped"]
    assert stopped and all(core.stop_reason(t).outcome is Outcome.STOPPED_RUNG for t in stopped)
    assert all(core.stop_reason(t).rule == "rank" for t in stopped)
    assert isinstance(core, Diagnostics)
    assert "never earned trust" in core.run_notes()[0]


def test_hopeless_trial_is_stopped_by_the_predictor_at_rung_one():
    core = trained()
    # finals so far: q + 0.25 for q = 1.0 .. 0.5 -> 2nd best final 0.85; this trial's is 2.25
    assert run_trial(core, "bad", curve(2.0)) == ["STOP"]
    d = core.decision_log()[-1]
    assert d["rule"] == "predictor" and d["horizon"] == R and not d["continued"]
    assert d["predicted"] == pytest.approx(2.25, abs=0.02) and d["reference"] == pytest.approx(0.85)
    r = core.stop_reason("bad")
    assert r.outcome is Outcome.STOPPED_PREDICTOR and r.rule == "predictor" and r.rung == 1
    assert r.predicted == pytest.approx(2.25, abs=0.02)


def test_a_trial_that_can_join_the_top_k_continues():
    core = trained()
    q = 0.57  # predicted final 0.82 < 2nd best 0.85: P(beat) > 0.5
    assert core._reference("x", 2) == pytest.approx(0.85)
    assert run_trial(core, "good", curve(q)) == ["CONTINUE"] * 3 + ["STOP"]
    assert core.status["good"] == "completed"
    assert all(d["rule"] == "predictor" and d["continued"] for d in core.decision_log()[-2:])


def test_threshold_trades_stops_for_safety():
    # a trial whose predicted final is slightly worse than the reference: with a tiny sigma the
    # probability is ~0, with threshold 0 nothing is ever stopped by the predictor
    strict, lax = trained(threshold=0.05), trained(threshold=0.0)
    assert run_trial(strict, "y", curve(0.7)) == ["STOP"]  # final 0.95 vs 0.85
    assert run_trial(lax, "y", curve(0.7)) == ["CONTINUE"] * 3 + ["STOP"]


def test_intermediate_horizon_before_the_last_stage_is_trusted():
    core = trained(n=5, min_calib=3)  # each stage has scored 2 one-step predictions
    for i, q in enumerate((0.58, 0.59)):  # two trials end after rung 2: stage 0 gets 2 more scores
        run_trial(core, f"e{i}", curve(q)[:2])
        core.on_trial_complete(f"e{i}")
    assert core.stages[0].trusted() and not core.stages[1].trusted()
    run_trial(core, "mid", curve(0.9))
    d = core.decision_log()[-1]
    assert d["trial_id"] == "mid" and d["rule"] == "predictor" and d["horizon"] == 2
    # it predicts its rung-2 loss (1.65) against the 2nd best rung-2 loss seen (0.59 + 0.75)
    assert d["predicted"] == pytest.approx(1.65, abs=0.02) and d["reference"] == pytest.approx(1.34)
    assert not d["continued"] and core.stop_reason("mid").outcome is Outcome.STOPPED_PREDICTOR


def test_fewer_than_k_competitors_continue():
    core = trained(n=6, k=10)
    assert run_trial(core, "z", curve(3.0))[0] == "CONTINUE"
    assert core.decision_log()[-1]["rule"] == "predictor" and core.decision_log()[-1]["p"] == 1.0


def test_state_round_trip_and_options():
    core = trained()
    text = json.dumps(core.get_state(), allow_nan=False)
    twin = PredictiveCore(R, eta=2, k=2, threshold=0.05, min_pairs=3, min_calib=1, min_coverage=0.0)
    twin.set_state(json.loads(text))
    for c in (core, twin):
        run_trial(c, "bad", curve(2.0))
        run_trial(c, "ok", curve(0.45))
    assert core.decision_log() == twin.decision_log()
    with pytest.raises(ValueError):
        PredictiveCore(R, eta=2).set_state(json.loads(text))
    defaults = validate_options("predictive", {}, 100)
    assert defaults == {"eta": 2, "k": 5, "threshold": 0.1, "min_pairs": 10, "min_calib": 8, "min_coverage": 0.8}
    assert PredictiveCore(100).options() == defaults  # the core's own defaults are the same
    assert isinstance(build_core("predictive", options={}, max_epochs=50), PredictiveCore)
    assert math.isinf(core.stages[0].kappa(0))
