"""UCluster ``precision`` option on CPU: bf16 autocast trains and is checkpointed; fp16 needs CUDA."""
import math

import pytest
import torch

import hpo.session
import trainables.ucluster as ucluster
from hpo.errors import ConfigError
from trainables.accel import PrecisionError
from trainables.ucluster import generate as gen

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def jets_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ucluster_prec") / "jets.h5"
    gen.generate(gen.GenerationParams(jets_per_class=24, jets_per_chunk=12, seed=1), str(path), workers=2,
                 progress=False)
    return str(path)


def tiny(jets_file, **over):
    return {"data_path": jets_file, "max_epochs": 2, "pretrain_epochs": 1, "batch_size": 16, "width": 0.125,
            "embed_dim": 3, "beta": 1.0, "alpha_growth": 2.0, "lr": 1e-3, "kmeans_init_jets": 40, **over}


def test_bf16_trains_on_cpu(jets_file):
    with hpo.session.local_session() as fp32:
        ucluster.train(tiny(jets_file))
    with hpo.session.local_session() as bf16:
        ucluster.train(tiny(jets_file, precision="bf16"))
    for r in bf16.reports:
        assert all(math.isfinite(r[k]) for k in ("val_loss", "loss_km", "loss_focal", "cluster_acc"))
    assert bf16.reports[0]["loss_focal"] != fp32.reports[0]["loss_focal"]  # really ran in bf16
    assert bf16.reports[0]["loss_focal"] == pytest.approx(fp32.reports[0]["loss_focal"], rel=0.1)
    with hpo.session.local_session(resume_from=bf16):
        assert hpo.get_checkpoint()["precision"]["name"] == "bf16"


def test_fp16_needs_cuda_and_unknown_precision_is_bad_input(jets_file):
    with pytest.raises(PrecisionError, match="fp16 needs a CUDA device"):
        with hpo.session.local_session():
            ucluster.train(tiny(jets_file, precision="fp16"))
    with pytest.raises(ConfigError, match="must be one of fp32, bf16, fp16"):
        ucluster.validate_args({"precision": "half"})
