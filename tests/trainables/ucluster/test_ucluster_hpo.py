"""UCluster through the service: the YAML space validates, and a 2-trial ASHA experiment runs via hpo.tune."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

import hpo
from hpo import config as config_mod
from trainables.ucluster.data import load_splits
from test_ucluster_train import jets_file  # noqa: F401 - module fixture: tiny generated sample

SPACE = Path(__file__).resolve().parents[3] / "search_spaces" / "ucluster.yaml"
TINY = {"width": 0.125, "kmeans_init_jets": 40, "eval_batch_size": 256}


def test_yaml_space_loads_and_validates():
    cfg = config_mod.load(SPACE)
    assert cfg.metric == "cluster_acc" and cfg.mode == "max"
    assert cfg.trainable == "ucluster"
    assert set(cfg.space) >= {"lr", "lr_decay", "batch_size", "focal_gamma", "beta", "alpha_growth",
                              "pretrain_epochs", "embed_dim"}


@pytest.mark.ray
def test_tune_two_trials_asha(ray_cluster, tmp_path, jets_file):  # noqa: F811
    res = hpo.tune("ucluster", space=str(SPACE), metric="cluster_acc", mode="max", num_samples=2, max_epochs=2,
                   scheduler={"name": "asha", "grace_period": 1, "reduction_factor": 2}, search="random", seed=0,
                   storage=str(tmp_path), verbose=False, max_concurrent=2,
                   trainable_args={**TINY, "data_path": jets_file})
    assert len(res.trials) == 2
    assert set(res.trials["outcome"]) <= {"completed", "stopped_rung", "stopped_predictor", "not_promoted"}
    assert 1 / 3 <= res.best_metric <= 1.0
    assert res.best_metric == pytest.approx(res.trials["cluster_acc"].max())
    assert res.best_config["beta"] in {0.1, 1.0, 10.0, 100.0}
    curves = res.curves
    assert {"cluster_acc", "val_loss", "loss_km", "loss_focal"} <= set(curves.columns)
    assert all(math.isfinite(v) for v in curves["cluster_acc"])
    assert curves.groupby("trial_id")["epoch"].max().max() == 2


@pytest.mark.ray
@pytest.mark.slow
def test_two_worker_ddp_trial(ray_cluster, tmp_path, jets_file):  # noqa: F811
    res = hpo.tune("ucluster", space=str(SPACE), metric="cluster_acc", mode="max", num_samples=1, max_epochs=2,
                   scheduler="fifo", search="random", seed=1, storage=str(tmp_path), verbose=False,
                   workers_per_trial=2, max_concurrent=1, trainable_args={**TINY, "data_path": jets_file})
    assert res.trials["outcome"].iloc[0] == "completed"
    c = res.curves.sort_values("epoch")
    assert list(c["epoch"]) == [1, 2]
    assert (c["world_size"] == 2).all()
    n_train = len(load_splits(jets_file)[0])
    assert set(c["train_jets"]) <= {n_train // 2, (n_train + 1) // 2}  # each worker trains on its half
    assert all(math.isfinite(v) for v in c["cluster_acc"])
