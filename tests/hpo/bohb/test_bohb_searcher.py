"""hpo.bohb API (validate_options / build_searcher) and the Ray Tune Searcher adapter."""
from __future__ import annotations

import math

import pytest

from hpo import searchers
from hpo.components import names
from hpo import space as S
from hpo.bohb import validate_options
from hpo.errors import ConfigError
from hpo.protocols import EPOCH_KEY, Objective

SPACE = {"lr": S.loguniform(1e-4, 1e-1), "width": S.choice([32, 64, 128]), "layers": S.randint(1, 4)}


@pytest.mark.parametrize("options, key", [
    ({"nope": 1}, "search.nope"),
    ({"num_samples": 0}, "search.num_samples"),
    ({"num_samples": True}, "search.num_samples"),
    ({"num_samples": 2.5}, "search.num_samples"),
    ({"min_points_in_model": "3"}, "search.min_points_in_model"),
    ({"top_n_percent": 0}, "search.top_n_percent"),
    ({"top_n_percent": 100}, "search.top_n_percent"),
    ({"random_fraction": 1.5}, "search.random_fraction"),
    ({"random_fraction": math.nan}, "search.random_fraction"),
    ({"bandwidth_factor": 0}, "search.bandwidth_factor"),
    ({"min_bandwidth": -1e-3}, "search.min_bandwidth"),
    ({"adaptive_bandwidth": 1}, "search.adaptive_bandwidth"),
])
def test_bad_options_name_their_key(options, key):
    with pytest.raises(ConfigError) as err:
        validate_options(options, SPACE, 5)
    assert err.value.key == key
    with pytest.raises(ConfigError) as err:  # the same through the service's searcher API
        searchers.validate("bohb", options, SPACE, 5)
    assert err.value.key == key


def test_grid_distribution_is_rejected_with_its_key():
    space = {**SPACE, "heads": S.grid([1, 2])}
    with pytest.raises(ConfigError, match="grid") as err:
        searchers.validate("bohb", {}, space, 5)
    assert err.value.key == "hyperparameters.heads"


def test_valid_options_get_defaults():
    out = validate_options({"num_samples": 16, "random_fraction": 0, "min_points_in_model": 5.0}, SPACE, 3)
    assert out["num_samples"] == 16 and out["random_fraction"] == 0.0 and out["min_points_in_model"] == 5
    assert out["top_n_percent"] == 15 and out["adaptive_bandwidth"] is True
    assert "bohb" in names("search")
    # validated options (with their defaults) are accepted again by build
    from hpo.ray.searcher import build

    alg, param_space, forced = build("bohb", out, SPACE, objective=Objective("m", "min"), seed=0, max_epochs=3)
    assert alg.inner.core.num_samples == 16 and alg.inner.core.min_points_in_model == 5
    assert param_space == {} and forced is None


def build_searcher(*, space, options, metric, mode, seed, max_epochs):
    """BOHB as Tune sees it: our protocol searcher behind the generic Ray adapter."""
    from hpo.ray.searcher import build

    return build("bohb", options, space, objective=Objective(metric, mode), seed=seed, max_epochs=max_epochs)[0]


def epoch_result(loss, epoch, metric="val_loss"):
    return {metric: loss, EPOCH_KEY: epoch, "training_iteration": epoch}


def run_trials(searcher, n, epochs=3, start=0, sign=1.0):
    """Drive the Searcher like Tune would: suggest, per-epoch results, completion."""
    configs = []
    for t in range(start, start + n):
        tid = f"t{t}"
        cfg = searcher.suggest(tid)
        configs.append(cfg)
        base = (math.log10(cfg["lr"]) + 2.5) ** 2 + abs(cfg["layers"] - 2) + (cfg["width"] != 64)
        for e in range(1, epochs + 1):
            searcher.on_trial_result(tid, epoch_result(sign * (base + 1.0 / e), e))
        searcher.on_trial_complete(tid, epoch_result(sign * (base + 1.0 / epochs), epochs))
    return configs


def test_searcher_records_one_observation_per_trial_and_epoch():
    s = build_searcher(space=SPACE, options={}, metric="val_loss", mode="min", seed=0, max_epochs=3)
    cfgs = run_trials(s, 8)
    assert all(set(c) == set(SPACE) for c in cfgs)
    # on_trial_complete's result repeats epoch 3: it replaces, it does not add
    assert [s.inner.core.n_observations(b) for b in (1, 2, 3)] == [8, 8, 8]
    assert s.inner.core.model_budget() == 3  # 8 >= (3 + 1) + 2
    s.on_trial_result("unknown", epoch_result(0.1, 1))  # not suggested by us: ignored
    s.suggest("x1")
    s.on_trial_result("x1", {"other": 1.0, EPOCH_KEY: 1})  # no metric: ignored
    s.on_trial_complete("x1", None, error=True)
    assert s.inner.core.n_observations(1) == 8 and not s.inner._live


def test_mode_max_negates_losses():
    s = build_searcher(space=SPACE, options={}, metric="val_loss", mode="max", seed=0, max_epochs=3)
    run_trials(s, 3, sign=-1.0)  # the metric is -loss, maximised
    losses = [loss for _, loss in s.inner.core.observations[3]]
    assert all(loss > 0 for loss in losses)


def test_save_restore_gives_identical_next_suggestions(tmp_path):
    a = build_searcher(space=SPACE, options={"num_samples": 24}, metric="val_loss", mode="min", seed=4,
                       max_epochs=3)
    run_trials(a, 10)
    a.suggest("pending")  # a live trial at save time keeps being tracked after restore
    path = tmp_path / "searcher.json"
    a.save(str(path))
    b = build_searcher(space=SPACE, options={}, metric="val_loss", mode="min", seed=123, max_epochs=3)
    b.restore(str(path))
    assert b.inner._live == a.inner._live
    for s in (a, b):
        s.on_trial_complete("pending", epoch_result(0.3, 1))
    assert run_trials(a, 6, start=10) == run_trials(b, 6, start=10)


def test_space_from_tune_param_space():
    from ray import tune

    from hpo.ray.searcher import bohb as BOHBSearcher

    s = BOHBSearcher(metric="val_loss", mode="min", seed=0)
    config = {"lr": tune.loguniform(1e-4, 1e-1), "width": tune.choice([32, 64, 128]),
              "layers": tune.randint(1, 5), "bin": tune.quniform(8, 64, 8), "fixed": "abc"}
    assert s.set_search_properties(None, None, config) is True
    assert s.inner.core.space["layers"].high == 4 and s.inner.core.space["bin"].q == 8
    cfg = s.suggest("t0")
    assert "fixed" not in cfg and 1 <= cfg["layers"] <= 4 and cfg["width"] in (32, 64, 128)
    # a searcher with its own space declines a second one (Tune then rejects unresolved values)
    assert s.set_search_properties("val_loss", "min", {"lr": tune.uniform(0, 1)}) is False
    with pytest.raises(ValueError, match="grid_search"):
        BOHBSearcher(metric="m", mode="min").set_search_properties(None, None, {"a": tune.grid_search([1])})
    with pytest.raises(RuntimeError, match="metric"):
        BOHBSearcher(space=SPACE).suggest("t")


def _quadratic_trainable(config):
    import hpo

    for epoch in range(1, config["max_epochs"] + 1):
        hpo.report(loss=(config["x"] - 0.3) ** 2 + 1.0 / epoch)


@pytest.mark.ray
def test_bohb_through_hpo_tune_with_asha(ray_cluster, tmp_path):
    import hpo

    if not hasattr(hpo, "tune"):
        pytest.fail("hpo.tune (the service's library call) is not available yet")
    result = hpo.tune(_quadratic_trainable, space={"x": S.uniform(0, 1), "k": S.choice([1, 2])},
                      metric="loss", mode="min", num_samples=6, max_epochs=3, scheduler="asha",
                      search="bohb", seed=0, storage=str(tmp_path))
    trials = result.trials
    assert len(trials) == 6
    assert trials["x"].between(0, 1).all() and set(trials["k"]) <= {1, 2}
    assert result.best_metric is not None and math.isfinite(result.best_metric)
    assert trials["epochs"].max() == 3  # at least one trial ran all epochs


@pytest.mark.ray
def test_bohb_instance_receives_every_epoch_from_ray(ray_cluster, tmp_path):
    import hpo
    from hpo.ray.searcher import bohb as BOHBSearcher

    searcher = BOHBSearcher(seed=1, min_points_in_model=2)  # space, metric and mode come from Tune
    result = hpo.tune(_quadratic_trainable, space={"x": S.uniform(0, 1), "k": S.choice([1, 2])},
                      metric="loss", mode="min", num_samples=6, max_epochs=3, scheduler="fifo",
                      search=searcher, seed=0, storage=str(tmp_path), verbose=False)
    assert len(result.trials) == 6
    assert searcher.metric == "loss" and searcher.mode == "min"
    # FIFO runs every trial to the end: one observation per trial at each budget 1..3
    assert [searcher.inner.core.n_observations(b) for b in (1, 2, 3)] == [6, 6, 6]
    observed = sorted(round(loss, 9) for _, loss in searcher.inner.core.observations[3])
    expected = sorted(round((x - 0.3) ** 2 + 1 / 3, 9) for x in result.trials["x"])
    assert observed == expected


@pytest.mark.ray
def test_bohb_with_pausing_hyperband(ray_cluster, tmp_path):
    """Hyperband PAUSEs and resumes trials; hpo_epoch keeps counting, so budgets stay right."""
    import hpo
    from hpo.ray.searcher import bohb as BOHBSearcher

    searcher = BOHBSearcher(seed=2)
    result = hpo.tune(_quadratic_trainable, space={"x": S.uniform(0, 1), "k": S.choice([1, 2])},
                      metric="loss", mode="min", max_epochs=3, scheduler="hyperband", search=searcher,
                      seed=0, storage=str(tmp_path), verbose=False)
    trials = result.trials
    assert len(trials) >= 2
    for budget in (1, 2, 3):  # one observation per trial that reached the budget, none twice
        assert searcher.inner.core.n_observations(budget) == int((trials["epochs"] >= budget).sum())
    assert searcher.inner.core.n_observations(3) >= 1
