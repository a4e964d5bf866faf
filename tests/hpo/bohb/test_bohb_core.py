"""BOHBCore (hpo/bohb/core.py) without Ray: sampling, model use, reproducibility, state."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hpo import space as S
from hpo.bohb import BOHBCore

ALL_KINDS = {
    "u": S.uniform(-2.0, 3.0),
    "lu": S.loguniform(1e-5, 1e-1),
    "qu": S.quniform(8, 64, 8),
    "qlu": S.qloguniform(0.01, 1.0, 0.01),
    "i": S.randint(1, 4),
    "il": S.randint(1, 200, log=True),
    "c": S.choice(["adam", 3, 2.5, True, None]),
}


def check_config(cfg: dict) -> None:
    assert set(cfg) == set(ALL_KINDS)
    assert type(cfg["u"]) is float and -2.0 <= cfg["u"] <= 3.0
    assert type(cfg["lu"]) is float and 1e-5 <= cfg["lu"] <= 1e-1
    assert type(cfg["qu"]) is float and 8 <= cfg["qu"] <= 64 and cfg["qu"] % 8 == 0
    k = cfg["qlu"] / 0.01
    assert type(cfg["qlu"]) is float and 0.01 <= cfg["qlu"] <= 1.0 and abs(k - round(k)) < 1e-9
    assert type(cfg["i"]) is int and 1 <= cfg["i"] <= 4
    assert type(cfg["il"]) is int and 1 <= cfg["il"] <= 200
    assert any(cfg["c"] is v or (type(cfg["c"]) is type(v) and cfg["c"] == v) for v in ALL_KINDS["c"].values)


def toy_loss(cfg: dict) -> float:
    return (cfg["u"] - 1) ** 2 + (math.log10(cfg["lu"]) + 3) ** 2 + abs(cfg["i"] - 3) + (cfg["c"] != 3)


def test_every_distribution_sampled_in_bounds_with_right_types():
    core = BOHBCore(ALL_KINDS, seed=0)
    seen_i, seen_c = set(), set()
    for _ in range(150):
        cfg = core.suggest()
        check_config(cfg)
        seen_i.add(cfg["i"])
        seen_c.add(repr(cfg["c"]))
        core.observe(cfg, 1, toy_loss(cfg))
    assert core.model_budget() == 1 and core.last_info  # the model phase ran too
    assert seen_i == {1, 2, 3, 4}  # int is inclusive at both ends
    assert len(seen_c) == 5


def test_model_phase_samples_stay_valid_and_focus():
    core = BOHBCore(ALL_KINDS, seed=3, random_fraction=0.0)
    for _ in range(60):
        cfg = core.suggest()
        core.observe(cfg, 2, toy_loss(cfg))
    model_cfgs = []
    for _ in range(30):
        cfg = core.suggest()
        check_config(cfg)
        assert core.last_info["model_budget"] == 2 and not core.last_info["random"]
        model_cfgs.append(cfg)
    # the good category (c == 3) dominates model suggestions: uniform sampling gives 6 of 30 on
    # average, P(>= 15) < 1e-3
    assert sum(c["c"] == 3 and type(c["c"]) is int for c in model_cfgs) >= 15


BOWL = {"x": S.uniform(-5, 5), "y": S.uniform(-5, 5), "z": S.uniform(-5, 5)}


def bowl(cfg: dict) -> float:
    return (cfg["x"] - 1.3) ** 2 + (cfg["y"] + 2.1) ** 2 + (cfg["z"] - 0.4) ** 2


def best_after(n: int, seed: int, **options) -> float:
    core = BOHBCore(BOWL, seed=seed, **options)
    best = math.inf
    for _ in range(n):
        cfg = core.suggest()
        loss = bowl(cfg)
        best = min(best, loss)
        core.observe(cfg, 1, loss)
    return best


def test_model_clearly_beats_random_on_quadratic_bowl():
    seeds = range(12)
    bohb = [best_after(50, s) for s in seeds]
    rand = [best_after(50, s, random_fraction=1.0) for s in seeds]  # same sampler, no model
    # measured (12 seeds): BOHB mean ~0.6, random mean ~2.0
    assert np.mean(bohb) < 0.5 * np.mean(rand)
    assert sum(b < r for b, r in zip(bohb, rand)) >= 9


def test_adaptive_bandwidth_floor_prevents_collapse():
    seeds = range(12)
    adaptive = [best_after(50, s) for s in seeds]
    fixed = [best_after(50, s, adaptive_bandwidth=False) for s in seeds]  # hpbandster's floor only
    assert np.mean(adaptive) < 0.6 * np.mean(fixed)


def test_uses_largest_budget_with_enough_points():
    space = {"x": S.uniform(0, 1)}
    core = BOHBCore(space, seed=0, min_points_in_model=2, random_fraction=0.0)
    assert core.min_points_in_model == 2
    rng = np.random.default_rng(1)
    for x in rng.random(20):  # budget 1: good near x = 0.1
        core.observe({"x": float(x)}, 1, abs(x - 0.1))
    for x in (0.9, 0.5, 0.2):  # budget 3: good near x = 0.9, only 3 points (< 2 + 2)
        core.observe({"x": x}, 3, abs(x - 0.9))
    assert core.model_budget() == 1
    low = [core.suggest()["x"] for _ in range(10)]
    assert core.last_info["model_budget"] == 1 and np.median(low) < 0.35
    core.observe({"x": 0.85}, 3, 0.05)  # now 4 points at budget 3
    core.observe({"x": 0.4}, 2, 0.3)  # a smaller budget does not matter
    assert core.model_budget() == 3
    high = [core.suggest()["x"] for _ in range(10)]
    assert core.last_info["model_budget"] == 3 and np.median(high) > 0.6


def drive(core: BOHBCore, steps: int, start: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + steps):
        cfg = core.suggest()
        out.append(cfg)
        core.observe(cfg, 1 + i % 3, toy_loss(cfg))
    return out


def test_same_seed_same_observations_same_suggestions():
    a, b = BOHBCore(ALL_KINDS, seed=7), BOHBCore(ALL_KINDS, seed=7)
    assert drive(a, 40) == drive(b, 40)
    assert drive(BOHBCore(ALL_KINDS, seed=8), 40) != drive(BOHBCore(ALL_KINDS, seed=7), 40)


def test_state_round_trip_through_json_gives_identical_next_suggestions():
    core = BOHBCore(ALL_KINDS, seed=11, num_samples=32)
    drive(core, 35)
    state = json.loads(json.dumps(core.get_state(), allow_nan=False))
    twin = BOHBCore(ALL_KINDS, seed=999)
    twin.set_state(state)
    assert twin.options() == core.options()
    assert drive(twin, 15, start=35) == drive(core, 15, start=35)
    with pytest.raises(ValueError, match="different search space"):
        BOHBCore({"x": S.uniform(0, 1)}).set_state(state)


def test_non_finite_losses_are_worst_and_never_crash():
    space = {"x": S.uniform(0, 1), "c": S.choice(["a", "b"])}
    core = BOHBCore(space, seed=2, random_fraction=0.0)
    for i in range(30):
        cfg = core.suggest()
        loss = [math.nan, math.inf, -math.inf, None, "oops"][i % 5] if cfg["x"] > 0.5 else cfg["x"]
        core.observe(cfg, 1, loss)
    json.dumps(core.get_state(), allow_nan=False)  # non-finite losses are stored as null
    good, bad = core._split(1)
    assert (good[:, 0] <= 0.5).all()  # every non-finite point is in the bad set
    cfg, budget, loss = core.best()
    assert math.isfinite(loss) and cfg["x"] <= 0.5
    for _ in range(10):
        assert 0 <= core.suggest()["x"] <= 1
    all_nan = BOHBCore(space, seed=2, random_fraction=0.0)
    for _ in range(8):
        all_nan.observe(all_nan.suggest(), 1, math.nan)
    assert all_nan.best() is None and 0 <= all_nan.suggest()["x"] <= 1


def test_keyed_observation_replaces_and_bad_configs_raise():
    core = BOHBCore({"x": S.uniform(0, 1), "c": S.choice([32, 64])}, seed=0)
    core.observe({"x": 0.5, "c": 64}, 2, 1.0, key="t1")
    core.observe({"x": 0.5, "c": 64.0}, 2, 0.5, key="t1")  # 64.0 from JSON matches 64
    core.observe({"x": 0.5, "c": 64}, 3, 0.4, key="t1")
    assert core.n_observations(2) == 1 and core.n_observations(3) == 1
    assert core.observations[2][0][1] == 0.5
    for bad in ({"x": 0.5}, {"x": 0.5, "c": 48}, {"x": "a", "c": 32}):
        with pytest.raises(ValueError):
            core.observe(bad, 1, 0.0)
    with pytest.raises(ValueError):
        BOHBCore({"x": S.uniform(0, 1)}, top_n_percent=0)


def test_allowed_values_survive_encode_decode():
    from hpo.bohb.encoding import Encoder

    enc = Encoder(ALL_KINDS)
    dims = {d.name: d for d in enc.dims}
    for v in range(1, 201):
        assert dims["il"].decode(dims["il"].encode(v)) == v
    for v in (8.0, 16.0, 56.0, 64.0):
        assert dims["qu"].decode(dims["qu"].encode(v)) == v
    for v in ALL_KINDS["c"].values:
        assert repr(dims["c"].decode(dims["c"].encode(v))) == repr(v)
    assert dims["lu"].decode(dims["lu"].encode(3e-4)) == pytest.approx(3e-4)
    assert dims["u"].decode(0.0) == -2.0 and dims["u"].decode(1.0) == 3.0


def test_core_imports_no_ray():
    import subprocess
    import sys

    code = "import sys, hpo.bohb as b; b.BOHBCore({}); print('ray' in sys.modules)"
    code = code.replace("{}", "{'x': __import__('hpo.space').space.uniform(0, 1)}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
