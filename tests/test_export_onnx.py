"""``python -m hpo.export``: the best trial's MLPF checkpoint -> ONNX; ONNX Runtime matches PyTorch on
generated events of any size.  The results directory is laid out as a real run leaves it (best.json,
experiment.yaml, <trial dir>/checkpoint_NNNNNN/), with a checkpoint written by one epoch of the real
MLPF training code through hpo.report (no Ray)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import yaml

import hpo
from hpo.export import load_best_mlpf, main
from trainables.mlpf.dataset import collate
from trainables.mlpf.generate import generate_events
from trainables.mlpf.model import build_model
from trainables.mlpf.onnx_export import OUTPUTS, MLPFForExport
from trainables.mlpf.schema import write_shard
from trainables.mlpf.training import train

torch.set_num_threads(1)
TINY = {"width": 16, "num_convs": 1, "bin_size": 16, "distance_dim": 8, "ffn_dist_hidden_dim": 16,
        "num_heads": 2, "num_random_features": 16, "batch_size": 8}
BEST, OTHER = "ab12c_00003", "ab12c_00001"


def _results_dir(root, model: str):
    data = root / "data"
    for split, n, seed in (("train", 16, 1), ("val", 8, 2)):
        (data / split).mkdir(parents=True)
        write_shard(str(data / split / "shard_0000.parquet"), generate_events(n, processes=["qq"], seed=seed))
    hyper = {"lr": 3e-3, "width": 16.0}  # a searched value may come back as a float
    args = {**TINY, "model": model, "data_dir": str(data), "physics_metrics": False, "max_epochs": 1}
    with hpo.session.local_session() as s:
        train({**args, **hyper})
    d = root / "results"
    for tid in (OTHER, BEST):  # Ray Tune's trial folder names contain the trial id
        ckpt = d / f"hpo_trial_mlpf_{tid}_{tid[-1]}_lr=0.0030,width=16_2026-11-28_10-00-00" / "checkpoint_000000"
        shutil.copytree(s.checkpoint.path, ckpt)
    (d / "best.json").write_text(json.dumps({"trial_id": BEST, "metric": "val_loss", "mode": "min",
                                             "value": s.reports[-1]["val_loss"], "epochs": 1, "config": hyper}))
    (d / "experiment.yaml").write_text(yaml.safe_dump({"name": "tiny", "trainable": {"name": "mlpf", "args": args},
                                                       "metric": "val_loss", "mode": "min"}))
    return d


@pytest.fixture(scope="module")
def gnn_results(tmp_path_factory):
    return _results_dir(tmp_path_factory.mktemp("export_gnn"), "gnn_lsh")


def _round_trip(results, capsys):
    assert main([str(results)]) == 0
    assert "wrote" in capsys.readouterr().out
    path = results / "best_model.onnx"
    model, config, info = load_best_mlpf(results)
    assert info["trial_id"] == BEST and info["epochs"] == 1 and config["width"] == 16
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["X"] and [o.name for o in session.get_outputs()] == list(OUTPUTS)
    events = generate_events(6, processes=["qq"], seed=11)
    sizes = {len(e["X"]) for e in events}
    assert len(sizes) > 1  # events of different sizes, padded in one batch and one by one
    untrained = MLPFForExport(build_model({**config, "seed": 99}))
    for batch in ([events], [[e] for e in events[:3]]):
        for evs in batch:
            X = collate(evs).X
            with torch.no_grad():
                ref = MLPFForExport(model)(X)
                other = untrained(X)
            got = session.run(list(OUTPUTS), {"X": X.numpy()})
            for name, r, g, o in zip(OUTPUTS, ref, got, other):
                assert g.shape == tuple(r.shape)
                np.testing.assert_allclose(g, r.numpy(), atol=1e-4, rtol=1e-4, err_msg=name)
                assert np.abs(o.numpy() - g).max() > 1e-3  # the trained weights were exported, not a fresh init
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["hpo_trial_id"] == BEST and json.loads(meta["hpo_hyperparameters"]) == {"lr": 3e-3, "width": 16.0}


def test_export_gnn_lsh_round_trips_with_dynamic_sizes(gnn_results, capsys):
    _round_trip(gnn_results, capsys)


@pytest.mark.slow
def test_export_transformer_round_trips(tmp_path, capsys):
    _round_trip(_results_dir(tmp_path, "transformer"), capsys)


def test_unexportable_directories_give_one_line(tmp_path, gnn_results, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "best.json: missing" in err
    other = tmp_path / "replay"
    shutil.copytree(gnn_results, other, ignore=shutil.ignore_patterns("*.onnx"))
    exp = yaml.safe_load((other / "experiment.yaml").read_text())
    exp["trainable"] = {"name": "replay", "args": {"table": "mlpf_delphes"}}
    (other / "experiment.yaml").write_text(yaml.safe_dump(exp))
    assert main([str(other)]) == 2
    assert "MLPF trainable only" in capsys.readouterr().err
    shutil.rmtree(next(other.glob(f"*{BEST}*")))
    exp["trainable"]["name"] = "mlpf"
    (other / "experiment.yaml").write_text(yaml.safe_dump(exp))
    assert main([str(other)]) == 2
    assert f"no trial folder(s) for trial {BEST}" in capsys.readouterr().err
