"""MLPF through the service library call ``hpo.tune``: a 2-worker Ray Train (DDP, gloo) trial and a
Tune experiment with 2 concurrent trials."""
from __future__ import annotations

import math

import pytest

import hpo
from test_mlpf_train import TINY, mlpf_data  # noqa: F401 - session fixture: tiny generated sample

SPACE = {"lr": {"type": "loguniform", "low": 1e-3, "high": 5e-3}}


def _tune(tmp_path, data_dir, **kw):
    return hpo.tune("mlpf", space=SPACE, metric="val_loss", mode="min", max_epochs=2, scheduler="fifo",
                    search="random", seed=0, storage=str(tmp_path), verbose=False,
                    trainable_args={**TINY, "model": "gnn_lsh", "data_dir": data_dir}, **kw)


@pytest.mark.ray
def test_two_worker_ray_train_trial(ray_cluster, tmp_path, mlpf_data):  # noqa: F811
    res = _tune(tmp_path, mlpf_data, num_samples=1, workers_per_trial=2, max_concurrent=1)
    assert len(res.trials) == 1 and res.trials["outcome"].iloc[0] == "completed"
    assert math.isfinite(res.best_metric)
    c = res.curves.sort_values("epoch")
    assert list(c["epoch"]) == [1, 2]
    assert (c["world_size"] == 2).all()  # the trial really ran on two DDP workers
    assert (c["train_events"] == 48).all()  # each worker read its own half of the shards
    assert math.isfinite(c["jet_response_iqr"].iloc[-1]) and math.isfinite(c["baseline_jet_response_iqr"].iloc[-1])


@pytest.mark.ray
def test_tune_experiment_with_two_concurrent_trials(ray_cluster, tmp_path, mlpf_data):  # noqa: F811
    res = _tune(tmp_path, mlpf_data, num_samples=2, workers_per_trial=1, max_concurrent=2)
    assert len(res.trials) == 2 and (res.trials["outcome"] == "completed").all()
    assert res.trials["lr"].nunique() == 2
    assert res.best_config["lr"] in set(res.trials["lr"])
    assert res.best_metric == pytest.approx(res.trials["val_loss"].min())
    assert res.curves.groupby("trial_id")["epoch"].max().tolist() == [2, 2]
    assert (res.curves["world_size"] == 1).all()
