"""MLPF trial in-process (hpo.session.local_session): per-epoch reports, checkpoint resume, physics
metrics, and the search-space YAML files."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import hpo.session
from trainables.mlpf import args as mlpf_args
from trainables.mlpf import train
from trainables.mlpf.loss import COMPONENTS
from trainables.mlpf.physics import ResponseAccumulator, target_particles

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]
DATA = {"n_train": 48, "n_val": 24, "events_per_shard": 12, "data_seed": 1, "gen_workers": 2,
        "processes": ["qq", "ww"]}
TINY = {"width": 16, "num_convs": 1, "bin_size": 16, "distance_dim": 8, "ffn_dist_hidden_dim": 16,
        "num_heads": 2, "num_random_features": 16, "batch_size": 8, "lr": 3e-3}


@pytest.fixture(scope="session")
def mlpf_data(tmp_path_factory) -> str:
    """A tiny generated sample shared by the MLPF tests (4 train + 2 val shards)."""
    return mlpf_args.prepare({**DATA, "cache_dir": str(tmp_path_factory.getbasetemp() / "mlpf_cache")})["data_dir"]


@pytest.mark.parametrize("model", ["gnn_lsh", "transformer"])
def test_two_epochs_report_losses_and_physics(mlpf_data, model):
    with hpo.session.local_session() as s:
        train({**TINY, "model": model, "data_dir": mlpf_data, "max_epochs": 2})
    r0, r1 = s.reports
    assert [r["epoch"] for r in s.reports] == [0, 1] and [r["hpo_epoch"] for r in s.reports] == [1, 2]
    for r in s.reports:
        assert math.isfinite(r["val_loss"])
        assert r["val_loss"] == pytest.approx(sum(r[k] for k in COMPONENTS), rel=1e-5)
    assert "jet_response_iqr" not in r0  # physics only on the last epoch
    for k in ("jet_response_median", "jet_response_iqr", "jet_match_fraction", "met_response_median",
              "baseline_jet_response_iqr", "baseline_jet_match_fraction", "cls_accuracy"):
        assert k in r1
    assert 0.0 <= r1["jet_match_fraction"] <= 1.0 and r1["baseline_jet_match_fraction"] > 0.8
    assert s.checkpoint is not None


def test_resume_from_checkpoint_continues_the_curve(mlpf_data):
    cfg = {**TINY, "model": "gnn_lsh", "data_dir": mlpf_data, "physics_metrics": False, "dropout": 0.1,
           "lr_schedule": "constant"}
    with hpo.session.local_session() as full:
        train({**cfg, "max_epochs": 3})
    with hpo.session.local_session() as first:
        train({**cfg, "max_epochs": 1})
    with hpo.session.local_session(resume_from=first) as rest:
        train({**cfg, "max_epochs": 3})
    assert [r["epoch"] for r in rest.reports] == [1, 2] and [r["hpo_epoch"] for r in rest.reports] == [2, 3]
    # identical to the uninterrupted run: weights, optimizer and RNG state came from the checkpoint
    for a, b in zip(full.reports[1:], rest.reports):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    with hpo.session.local_session() as fresh:  # without the checkpoint the curve is different
        train({**cfg, "max_epochs": 1, "seed": 1})
    assert fresh.reports[0]["val_loss"] != pytest.approx(full.reports[0]["val_loss"], rel=1e-6)


def test_physics_metrics_of_a_perfect_reconstruction():
    rng = np.random.default_rng(0)
    acc = ResponseAccumulator()
    for _ in range(5):
        y = np.zeros((40, 7), np.float32)
        y[:, 0] = 1
        y[:, 2] = rng.uniform(2, 30, 40)
        y[:, 3] = rng.uniform(-1.5, 1.5, 40)
        phi = rng.uniform(-np.pi, np.pi, 40)
        y[:, 4], y[:, 5] = np.sin(phi), np.cos(phi)
        y[:, 6] = y[:, 2] * np.cosh(y[:, 3])
        t = target_particles(y)
        acc.add(t, t)
        half = dict(t, pt=t["pt"] * 0.5, energy=t["energy"] * 0.5)
        assert acc.n_ref_jets > 0
    s = acc.summary()
    assert s["jet_response_median"] == pytest.approx(1.0) and s["jet_response_iqr"] == pytest.approx(0.0)
    assert s["jet_match_fraction"] == 1.0
    acc2 = ResponseAccumulator()
    acc2.add(t, half)
    assert acc2.summary()["jet_response_median"] == pytest.approx(0.5, rel=1e-3)


@pytest.mark.parametrize("name", ["mlpf_gnn.yaml", "mlpf_transformer.yaml"])
def test_search_space_files_match_the_trainable(name):
    data = yaml.safe_load((ROOT / "search_spaces" / name).read_text())
    assert data["trainable"]["name"] == "mlpf" and data["metric"] == "val_loss" and data["mode"] == "min"
    assert data["scheduler"]["name"] == "asha" and data["search"]["name"] == "tpe"
    assert data["resources"]["max_concurrent"] == 2
    mlpf_args.validate_args(data["trainable"]["args"])
    for key in data["hyperparameters"]:
        assert key in mlpf_args.KNOWN_KEYS, key
    if data["trainable"]["args"]["model"] == "transformer":  # every width/heads pair must be valid
        widths = data["hyperparameters"]["width"]["values"]
        heads = data["hyperparameters"]["num_heads"]["values"]
        assert all(w % h == 0 for w in widths for h in heads)
