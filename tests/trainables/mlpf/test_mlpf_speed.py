"""MLPF speed options on CPU: packed batches equal the plain collation, size bucketing, the prefetching
loader, bf16 autocast training, fp16 refused on a CPU, argument checks, and (slow) torch.compile."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import hpo.session
from hpo.errors import ConfigError
from trainables.accel import Precision, PrecisionError
from trainables.mlpf import args as mlpf_args
from trainables.mlpf import train
from trainables.mlpf.dataset import batch_groups, batches, collate
from trainables.mlpf.loader import BatchLoader, collate_packed, device_batches, pack_events, unpack
from trainables.mlpf.model import build_model
from trainables.mlpf.schema import list_shards, read_shards

torch.set_num_threads(1)
DATA = {"n_train": 48, "n_val": 24, "events_per_shard": 12, "data_seed": 1, "gen_workers": 2,
        "processes": ["qq", "ww"]}
TINY = {"width": 16, "num_convs": 1, "bin_size": 16, "distance_dim": 8, "ffn_dist_hidden_dim": 16,
        "num_heads": 2, "num_random_features": 16, "batch_size": 8, "lr": 3e-3}
FIELDS = ("X", "mask", "cls", "charge", "reg", "ygen")


@pytest.fixture(scope="module")
def mlpf_data(tmp_path_factory) -> str:
    return mlpf_args.prepare({**DATA, "cache_dir": str(tmp_path_factory.mktemp("mlpf_speed"))})["data_dir"]


@pytest.fixture(scope="module")
def events(mlpf_data) -> list[dict]:
    return read_shards(list_shards(mlpf_data, "train"))


def _same(a, b) -> None:
    for f in FIELDS:
        ta, tb = getattr(a, f), getattr(b, f)
        assert ta.dtype == tb.dtype and ta.shape == tb.shape and torch.equal(ta, tb), f


def test_packed_batches_equal_plain_collation(events):
    packs = pack_events(events)
    for g in batch_groups([len(e["X"]) for e in events], 8, shuffle=True, seed=3):
        _same(unpack(collate_packed(packs, g)), collate([events[j] for j in g]))
    padded = unpack(collate_packed(packs, [0, 1], pad_multiple=16))
    assert padded.X.shape[1] % 16 == 0 and not padded.mask[:, max(len(events[0]["X"]), len(events[1]["X"])):].any()


def test_default_groups_are_those_of_the_plain_batches(events):
    sizes = [len(e["X"]) for e in events]
    groups = batch_groups(sizes, 8, shuffle=True, seed=5, n_batches=4)
    for b, g in zip(batches(events, 8, shuffle=True, seed=5, n_batches=4), groups):
        _same(b, collate([events[j] for j in g]))


def test_whole_epoch_bucketing_cuts_padding_and_keeps_every_event(events):
    sizes = np.array([len(e["X"]) for e in events])

    def padding(window):
        groups = batch_groups(sizes, 8, shuffle=True, seed=1, window=window)
        assert sorted(np.concatenate(groups).tolist()) == list(range(len(sizes)))
        return sum(len(g) * sizes[g].max() - sizes[g].sum() for g in groups)

    assert padding(0) < padding(1)  # window 1 = no sorting across batches
    assert padding(0) <= padding(8)


def test_prefetching_loader_yields_the_same_batches(events):
    packs = pack_events(events)
    groups = batch_groups([len(p) for p in packs], 8, shuffle=True, seed=2)
    plain = list(BatchLoader(packs, groups, "cpu", prefetch=False))
    ahead = list(BatchLoader(packs, groups, "cpu", prefetch=True))  # the CUDA code path, run on a CPU
    assert len(plain) == len(ahead) == len(groups)
    for a, b in zip(plain, ahead):
        _same(a, b)


def test_bf16_autocast_runs_the_model_in_bfloat16():
    model = build_model({**TINY, "model": "gnn_lsh"})
    seen = []
    model.head_cls[-1].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    X = torch.zeros(2, 20, 17)
    X[:, :15, 0] = 1
    X[:, :15, 1:] = torch.rand(2, 15, 16)
    for name in ("bf16", "fp32"):
        with Precision(name, "cpu").autocast():
            model(X, X[..., 0] != 0)
    assert seen == [torch.bfloat16, torch.float32]


@pytest.mark.parametrize("model", ["gnn_lsh", "transformer"])
def test_bf16_trains_on_cpu(mlpf_data, model):
    cfg = {**TINY, "model": model, "data_dir": mlpf_data, "max_epochs": 2, "physics_metrics": False,
           "bucket_window": 0}
    with hpo.session.local_session() as fp32:
        train(cfg)
    with hpo.session.local_session() as bf16:
        train({**cfg, "precision": "bf16"})
    losses = [r["val_loss"] for r in bf16.reports]
    assert all(math.isfinite(v) for v in losses) and losses[1] < losses[0]
    assert losses[0] != fp32.reports[0]["val_loss"]  # really ran in bf16
    assert losses[0] == pytest.approx(fp32.reports[0]["val_loss"], rel=0.05)
    with hpo.session.local_session(resume_from=bf16):
        assert hpo.get_checkpoint()["precision"]["name"] == "bf16"


def test_fp16_on_cpu_is_a_clear_error(mlpf_data):
    with pytest.raises(PrecisionError, match="fp16 needs a CUDA device"):
        with hpo.session.local_session():
            train({**TINY, "data_dir": mlpf_data, "max_epochs": 1, "precision": "fp16"})


@pytest.mark.parametrize("key,value,words", [
    ("precision", "fp8", "precision must be one of fp32, bf16, fp16"),
    ("compile", "yes", "must be true or false"),
    ("bucket_window", -1, "non-negative integer"),
])
def test_bad_speed_arguments(key, value, words):
    with pytest.raises(ConfigError, match=words) as e:
        mlpf_args.validate_args({"physics_metrics": False, key: value})
    assert e.value.key == f"trainable.args.{key}"


def test_validation_batches_are_collated_once(events):
    vb = device_batches(pack_events(events), 8, "cpu")
    assert sum(b.n_events for b in vb) == len(events)
    _same(vb[0], collate(events[:8]))


@pytest.mark.slow
def test_compiled_model_trains(mlpf_data):
    with hpo.session.local_session() as s:
        train({**TINY, "data_dir": mlpf_data, "max_epochs": 1, "physics_metrics": False, "compile": True,
               "max_train_events": 16, "max_val_events": 8})
    assert math.isfinite(s.reports[0]["val_loss"])
