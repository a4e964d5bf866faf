"""train(config) in-process: two tiny epochs, reports, checkpoint resume; argument checks."""
import math

import pytest
import torch

import hpo.session
import trainables.ucluster as ucluster
from hpo.errors import ConfigError
from trainables.ucluster import generate as gen

torch.set_num_threads(1)
METRICS = ("val_loss", "loss_km", "loss_focal", "cluster_acc", "epoch", "hpo_epoch")


@pytest.fixture(scope="module")
def jets_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ucluster") / "jets.h5"
    gen.generate(gen.GenerationParams(jets_per_class=24, jets_per_chunk=12, seed=1), str(path), workers=2,
                 progress=False)
    return str(path)


def tiny(jets_file, **over):
    return {"data_path": jets_file, "max_epochs": 2, "pretrain_epochs": 1, "batch_size": 16, "width": 0.125,
            "embed_dim": 3, "beta": 1.0, "alpha_growth": 2.0, "lr": 1e-3, "kmeans_init_jets": 40, **over}


def test_two_epochs_report_metrics_and_resume_matches_uninterrupted(jets_file):
    with hpo.session.local_session() as first:
        ucluster.train(tiny(jets_file))
    assert [r["epoch"] for r in first.reports] == [0, 1]
    for r in first.reports:
        assert set(METRICS) <= set(r)
        assert all(math.isfinite(r[k]) for k in METRICS)
        assert 1 / 3 <= r["cluster_acc"] <= 1.0
        # the mass-only k-means reference, on the same validation jets, for the report's physics summary
        assert 1 / 3 <= r["baseline_cluster_acc"] <= 1.0
        assert r["baseline_cluster_acc"] == first.reports[0]["baseline_cluster_acc"]
    assert first.reports[0]["alpha"] == 0.0 and first.reports[1]["alpha"] == 2.0  # joint from epoch 1
    assert first.reports[1]["val_loss"] == pytest.approx(
        first.reports[1]["loss_focal"] + 1.0 * first.reports[1]["loss_km"], rel=1e-6)

    with hpo.session.local_session(resume_from=first) as resumed:
        ucluster.train(tiny(jets_file, max_epochs=3))
    assert [(r["epoch"], r["hpo_epoch"]) for r in resumed.reports] == [(2, 3)]
    assert resumed.reports[0]["alpha"] == 4.0

    with hpo.session.local_session() as straight:
        ucluster.train(tiny(jets_file, max_epochs=3))
    for key in ("val_loss", "loss_km", "loss_focal", "cluster_acc"):
        assert resumed.reports[0][key] == pytest.approx(straight.reports[2][key], rel=1e-4, abs=1e-6)


def test_checkpoint_holds_trained_centroids_and_test_sample_is_scored(jets_file):
    with hpo.session.local_session() as s:
        ucluster.train(tiny(jets_file, test_path=jets_file))
    assert all(1 / 3 <= r["test_cluster_acc"] <= 1 and math.isfinite(r["test_val_loss"]) for r in s.reports)
    assert all(1 / 3 <= r["test_baseline_cluster_acc"] <= 1 for r in s.reports)
    with hpo.session.local_session(resume_from=s):
        state = hpo.get_checkpoint()
    assert state["epoch"] == 1 and state["centroids_ready"]
    assert torch.count_nonzero(state["model"]["centroids"]) > 0  # set by k-means, not the zero init


def test_validate_and_prepare(tmp_path, jets_file):
    assert ucluster.validate_args({"data_path": jets_file, "width": 0.5}) == {"data_path": jets_file, "width": 0.5}
    with pytest.raises(ConfigError, match="trainable.args.data_path"):
        ucluster.validate_args({"data_path": str(tmp_path / "nope.h5")})
    with pytest.raises(ConfigError, match="trainable.args.bogus"):
        ucluster.validate_args({"bogus": 1})
    with pytest.raises(ConfigError, match="positive"):
        ucluster.validate_args({"batch_size": 0})
    with pytest.raises(ConfigError, match="pretrain_epochs"):
        ucluster.validate_args({"pretrain_epochs": 4}, max_epochs=4)
    with pytest.raises(ConfigError, match="trainable.args.pool"):
        ucluster.validate_args({"pool": "sum"})
    with pytest.raises(ConfigError, match="trainable.args.z_norm"):
        ucluster.validate_args({"z_norm": "yes"})
    assert ucluster.validate_args({"pool": "mean", "embed_act": "relu", "z_norm": False})  # the original network
    with pytest.raises(ConfigError, match="val_fraction"):
        ucluster.validate_args({"val_fraction": 1.5})
    assert ucluster.prepare({"data_path": jets_file})["data_path"] == jets_file
    assert ucluster.DEFAULT_METRIC == "cluster_acc" and ucluster.DEFAULT_MODE == "max"


def test_softdrop_mass_target(jets_file):
    import numpy as np

    from trainables.ucluster.data import load_split
    from trainables.ucluster.features import MASS_WINDOW, mass_bin_labels, select_jets
    from trainables.ucluster.hls4ml import read_jets

    jets = select_jets(read_jets(jets_file), MASS_WINDOW)
    assert jets.mass_sd is not None and np.all(jets.mass_sd <= jets.mass + 1e-3)  # grooming only removes mass
    plain, groomed = load_split(jets_file), load_split(jets_file, target="softdrop")
    np.testing.assert_array_equal(plain.mass, groomed.mass)  # same jets, same window on the ungroomed mass
    np.testing.assert_array_equal(groomed.mass_bin, mass_bin_labels(jets.mass_sd))
    np.testing.assert_array_equal(plain.mass_bin, mass_bin_labels(jets.mass))
    with pytest.raises(ValueError, match="mass target"):
        load_split(jets_file, target="trimmed")
