"""Ray Tune level: the adapter around the Hyperband core really PAUSEs and resumes trials."""
from __future__ import annotations

import pytest

A_VALUES = [0.7, 0.3, 0.9, 0.5, 0.2, 0.8, 0.4, 0.6, 0.1, 1.0]  # 10 trials = Hyperband R=4, eta=2


def paused_trainable(config):
    import hpo
    import hpo.session

    from hpo.ray.runtime import TuneBackend

    hpo.session._enter(TuneBackend())
    ckpt = hpo.get_checkpoint()
    start = ckpt["epoch"] if ckpt else 0
    for epoch in range(start + 1, 5):
        hpo.report(loss=config["a"] * 10 / epoch, resumed_from=start, checkpoint={"epoch": epoch})


@pytest.mark.ray
def test_paused_trial_resumes_from_its_checkpoint(ray_cluster, tmp_path):
    from ray import tune

    from hpo.protocols import Objective
    from hpo.ray.scheduler import build_ray_scheduler

    sched = build_ray_scheduler("hyperband", objective=Objective("loss", "min"), options={"eta": 2},
                                max_epochs=4, seed=0)
    tuner = tune.Tuner(
        tune.with_resources(paused_trainable, {"cpu": 1}),
        param_space={"a": tune.grid_search(A_VALUES)},
        tune_config=tune.TuneConfig(scheduler=sched, metric="loss", mode="min", reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="pause_resume", verbose=0),
    )
    grid = tuner.fit()
    assert not grid.errors
    total, resumed = 0, 0
    for res in grid:
        df = res.metrics_dataframe
        epochs = list(df["hpo_epoch"])
        assert epochs == list(range(1, len(epochs) + 1))  # the curve continues: no repeated epoch
        total += len(epochs)
        if (df["resumed_from"] > 0).any():
            resumed += 1
            first_after = df[df["resumed_from"] > 0].iloc[0]
            assert first_after["hpo_epoch"] == first_after["resumed_from"] + 1
    assert total == 28  # Hyperband R=4, eta=2 with resumable trials: every epoch counted once
    # rung survivors that were paused (the last reporter of a rung goes straight on without a pause)
    assert resumed >= 1
    reasons = sched.stop_reasons()
    assert [r.outcome.value for r in reasons.values()].count("completed") == 1 + 1 + 3
    best = grid.get_best_result(metric="loss", mode="min")
    assert best.config["a"] in (0.1, 0.2, 0.3)
