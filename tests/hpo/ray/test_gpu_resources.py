"""Fractional GPUs per trial on a machine without a GPU: validation, trial slots, the GPU space, and the
one-line error when a run needs GPUs the cluster does not have (no Ray started)."""
from __future__ import annotations

import pytest

from hpo import config
from hpo.ray import cluster
from hpo.errors import ConfigError
from trainables.mlpf import args as mlpf_args

from conftest import run_cli


def _doc(**resources) -> dict:
    return {"trainable": "hpo.ray.trial:_callable", "hyperparameters": {"x": {"type": "uniform", "low": 0,
                                                                                "high": 1}},
            "resources": resources}


@pytest.mark.parametrize("gpus", [0, 0.25, 0.5, 1, 2, 4])
def test_fractions_of_one_gpu_and_whole_gpus_validate(gpus):
    assert config.from_dict(_doc(gpus_per_worker=gpus)).resources.gpus_per_worker == gpus


@pytest.mark.parametrize("res,words", [
    ({"gpus_per_worker": 1.5}, r"a fraction of one GPU .* or a whole number of GPUs \(got 1.5\)"),
    ({"gpus_per_worker": -0.25}, "greater than or equal to 0"),
    ({"gpus_per_worker": 0.5, "workers_per_trial": 2}, "ranks sharing a GPU break NCCL"),
])
def test_bad_gpu_requests_are_one_line_config_errors(res, words):
    with pytest.raises(ConfigError, match=words) as e:
        config.from_dict(_doc(**res))
    assert e.value.key == "resources.gpus_per_worker"
    assert "\n" not in e.value.one_line()


def test_gpu_space_validates_on_a_cpu_machine():
    cfg = config.load("mlpf_gnn_gpu.yaml")
    assert cfg.resources.gpus_per_worker == 0.25 and cfg.resources.workers_per_trial == 1
    assert cfg.trainable_args["precision"] == "bf16" and "batch_size" in cfg.space
    assert set(cfg.space) <= mlpf_args.KNOWN_KEYS
    assert set(cfg.space["width"].values) == {128, 256, 512, 1024}  # the GPU ranges of mlpf_gnn.yaml


@pytest.mark.parametrize("cpus,gpus,workers,cpw,gpw,cap,expected", [
    (16, 1, 1, 2, 0.25, None, 4),   # four trials packed on one GPU
    (16, 2, 1, 2, 0.25, None, 8),
    (16, 1, 1, 8, 0.25, None, 2),   # CPUs bound first
    (16, 1, 1, 2, 0.25, 3, 3),      # max_concurrent caps further
    (16, 0.3, 1, 1, 0.1, None, 3),  # 0.3 / 0.1 is 2.999... in floating point
    (2, 0, 1, 1, 0, None, 2),       # CPU-only runs are unchanged
    (2, 0, 1, 1, 0, 4, 4),
    (8, 4, 2, 2, 1, None, 2),       # data-parallel trials: 2 GPUs each
])
def test_trial_slots_respect_gpus(cpus, gpus, workers, cpw, gpw, cap, expected):
    assert cluster.trial_slots(cpus, gpus, workers, cpw, gpw, cap) == expected


def test_gpu_check_names_the_problem():
    cluster.check_gpus(0, 1, 0)  # CPU runs need nothing
    cluster.check_gpus(0.25, 1, 1)
    with pytest.raises(ConfigError, match="the Ray cluster has no GPUs; set resources.gpus_per_worker: 0"):
        cluster.check_gpus(0.25, 1, 0)
    with pytest.raises(ConfigError, match=r"one trial needs 4 GPUs \(2 workers x 2\) but the Ray cluster has 2"):
        cluster.check_gpus(2, 2, 2)


@pytest.mark.skipif(cluster.detect_gpus() > 0, reason="this machine has GPUs")
def test_gpu_run_without_gpus_exits_2_before_anything_starts(tmp_path):
    r = run_cli("--space", "mlpf_gnn_gpu.yaml", "--storage", str(tmp_path), "--num-samples", "1", timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "mlpf_gnn_gpu.yaml: resources.gpus_per_worker:" in lines[0]
    assert "has no GPUs" in lines[0]
    assert not any(tmp_path.iterdir())  # no results directory, no generated data, no Ray
