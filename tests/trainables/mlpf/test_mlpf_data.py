"""MLPF data: generator (determinism, physics sanity), truth recipe, Parquet schema, cache, baseline."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hpo.errors import ConfigError
from trainables.mlpf import args as mlpf_args
from trainables.mlpf import generate, truth
from trainables.mlpf.baseline import baseline_candidates
from trainables.mlpf.detector import DetectorOutput
from trainables.mlpf.schema import (SchemaError, list_shards, read_shard, read_shards, write_shard)

TINY = {"n_train": 48, "n_val": 24, "events_per_shard": 12, "data_seed": 3}


@pytest.fixture(scope="module")
def tiny_events():
    return generate.generate_events(20, ("ttbar", "qq", "ww"), seed=11, split="train", index=0)


def test_generated_events_have_clic_layout(tiny_events):
    for ev in tiny_events:
        X, Y = ev["X"], ev["ygen"]
        assert X.shape[1] == 17 and Y.shape == (len(X), 7)
        assert set(np.unique(X[:, 0])) <= {1.0, 2.0}
        trk = X[:, 0] == 1
        # tracks first, then clusters; track targets charged classes, cluster targets neutral ones
        assert not np.any(np.diff(trk.astype(int)) > 0)
        assert set(np.unique(Y[trk, 0])) <= {0, 1, 4, 5}
        assert set(np.unique(Y[~trk, 0])) <= {0, 2, 3}
        assert np.all(Y[~trk, 1] == 0)
        has = Y[:, 0] > 0
        assert np.all(np.abs(Y[has & trk, 1]) == 1)
        np.testing.assert_allclose(Y[has, 4] ** 2 + Y[has, 5] ** 2, 1.0, atol=1e-4)
        assert np.all(Y[has, 6] >= Y[has, 2] * 0.999)  # E >= pT
    mean_elems = np.mean([len(e["X"]) for e in tiny_events])
    assert 30 < mean_elems < 250
    classes = np.concatenate([e["ygen"][:, 0] for e in tiny_events]).astype(int)
    frac = np.bincount(classes, minlength=6) / len(classes)
    assert 0.1 < frac[0] < 0.5 and frac[1] > 0.15 and frac[3] > 0.15  # none, charged hadrons, photons


def test_generator_is_deterministic_by_seed():
    a = generate.generate_events(4, ("qq",), seed=5)
    b = generate.generate_events(4, ("qq",), seed=5)
    c = generate.generate_events(4, ("qq",), seed=6)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["X"], y["X"])
        np.testing.assert_array_equal(x["ygen"], y["ygen"])
    assert any(len(x["X"]) != len(z["X"]) or not np.array_equal(x["X"], z["X"]) for x, z in zip(a, c))


def _fake_detector(n_tracks, share, track_of):
    return DetectorOutput(X=np.zeros((n_tracks + share.shape[1], 17)), track_of_particle=np.array(track_of),
                          deposit_share=np.array(share, float), n_tracks=n_tracks)


def test_truth_recipe_energy_order_free_elements_and_merging():
    # particles: 0 = 50 GeV pi+ with track 0; 1 = 30 GeV photon in cluster 0; 2 = 20 GeV photon whose
    # best cluster (0) is taken by particle 1 -> second-best cluster 1; 3 = 2 GeV neutron only in cluster 0
    # (no free cluster left with energy) -> merged into the owner of cluster 0 (particle 1).
    pid = np.array([211, 22, 22, 2112])
    q = np.array([1.0, 0, 0, 0])
    p4 = np.array([[50, 0, 0, 50.0], [0, 30, 0, 30.0], [0, 20, 0, 20.0], [0, 1.0, 0, 2.0]])
    share = [[0, 0], [29, 0], [12, 6], [1.5, 0]]
    det = _fake_detector(1, np.array(share), [0, -1, -1, -1])
    owner, element_of = truth.assign_particles(p4[:, 3], det)
    assert list(owner) == [0, 1, 2] and list(element_of) == [0, 1, 2, -1]
    Y = truth.build_targets(pid, q, p4, det)
    assert list(Y[:, 0]) == [1, 3, 3]  # charged hadron, photon, photon
    assert Y[0, 1] == 1 and Y[1, 1] == 0
    assert Y[1, 6] == pytest.approx(32.0)  # photon (30) + merged neutron (2)
    assert Y[2, 6] == pytest.approx(20.0)


def test_truth_electron_track_and_invisible_particle():
    pid, q = np.array([11, 130]), np.array([-1.0, 0])
    p4 = np.array([[10, 0, 0, 10.0], [0, 5, 0, 5.0]])
    det = _fake_detector(1, np.array([[9.0], [0.1]]), [0, -1])  # K0L deposited only 2% -> invisible
    Y = truth.build_targets(pid, q, p4, det)
    assert list(Y[:, 0]) == [4, 0] and Y[0, 1] == -1


def test_parquet_roundtrip_and_schema_errors(tmp_path, tiny_events):
    path = str(tmp_path / "s.parquet")
    write_shard(path, tiny_events[:5])
    back = read_shard(path)
    assert len(back) == 5
    for a, b in zip(tiny_events, back):
        np.testing.assert_allclose(a["X"], b["X"], rtol=1e-6)
        np.testing.assert_allclose(a["ygen"], b["ygen"], rtol=1e-6)
        assert a["process"] == b["process"]
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = pa.table({"X": [[[3.0] + [0.0] * 16]], "ygen": [[[0.0] * 7]]})
    pq.write_table(bad, str(tmp_path / "bad.parquet"))
    with pytest.raises(SchemaError, match="element type"):
        read_shard(str(tmp_path / "bad.parquet"))
    pq.write_table(pa.table({"X": [[[1.0] * 17]]}), str(tmp_path / "nocol.parquet"))
    with pytest.raises(SchemaError, match="missing"):
        read_shard(str(tmp_path / "nocol.parquet"))


def test_dataset_identical_for_one_or_two_workers(tmp_path):
    kw = dict(n_train=12, n_val=6, processes=("qq",), seed=2, events_per_shard=6, progress=False)
    s1 = generate.generate_dataset(str(tmp_path / "w1"), workers=1, **kw)
    generate.generate_dataset(str(tmp_path / "w2"), workers=2, **kw)
    assert s1["events_per_cpu_s"] > 0
    for split in ("train", "val"):
        a, b = list_shards(str(tmp_path / "w1"), split), list_shards(str(tmp_path / "w2"), split)
        assert [os.path.basename(p) for p in a] == [os.path.basename(p) for p in b] and len(a) == (2 if split == "train" else 1)
        for ea, eb in zip(read_shards(a), read_shards(b)):
            np.testing.assert_array_equal(ea["X"], eb["X"])


def test_prepare_generates_once_then_reuses_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HPO_CACHE", str(tmp_path / "cache"))
    args = {**TINY, "n_train": 12, "n_val": 6, "events_per_shard": 6, "processes": ["qq"], "gen_workers": 1}
    out = mlpf_args.prepare(args)
    assert out["data_dir"].startswith(str(tmp_path / "cache" / "mlpf"))
    info = json.load(open(os.path.join(out["data_dir"], "dataset.json")))
    assert info["n_train"] == 12 and len(list_shards(out["data_dir"], "train")) == 2
    calls = []
    monkeypatch.setattr(generate, "generate_dataset", lambda *a, **k: calls.append(1))
    assert mlpf_args.prepare(args)["data_dir"] == out["data_dir"] and calls == []
    # different data settings -> different cache directory; explicit cache_dir wins over HPO_CACHE
    assert mlpf_args.cache_path({**args, "n_train": 13}) != out["data_dir"]
    assert mlpf_args.cache_path({**args, "cache_dir": str(tmp_path / "c2")}).startswith(str(tmp_path / "c2"))
    # a user's own shards are used as they are
    assert mlpf_args.prepare({"data_dir": out["data_dir"]})["data_dir"] == out["data_dir"]


def test_validate_args_rejects_bad_input(tmp_path):
    assert mlpf_args.validate_args({"model": "transformer", "n_train": 10})["model"] == "transformer"
    with pytest.raises(ConfigError, match="model"):
        mlpf_args.validate_args({"model": "gnn"})
    with pytest.raises(ConfigError, match="did you mean 'n_train'"):
        mlpf_args.validate_args({"n_trian": 5})
    with pytest.raises(ConfigError, match="does not exist") as e:
        mlpf_args.validate_args({"data_dir": str(tmp_path / "nope")})
    assert e.value.key == "trainable.args.data_dir"
    os.makedirs(tmp_path / "d" / "train")
    with pytest.raises(ConfigError, match="no Parquet shards"):
        mlpf_args.validate_args({"data_dir": str(tmp_path / "d")})
    with pytest.raises(ConfigError, match="processes"):
        mlpf_args.validate_args({"processes": ["higgs"]})


def test_rule_based_baseline_recovers_jets(tiny_events):
    from trainables.mlpf.physics import ResponseAccumulator, target_particles
    from trainables.mlpf.dataset import element_pt_eta_phi_e

    base, naive = ResponseAccumulator(), ResponseAccumulator()
    for ev in tiny_events:
        cand = baseline_candidates(ev["X"])
        assert len(cand["pt"]) >= int((ev["X"][:, 0] == 1).sum())  # every track is a candidate
        t = target_particles(ev["ygen"])
        base.add(t, cand)
        pt, eta, phi, e = element_pt_eta_phi_e(ev["X"])
        naive.add(t, {"pt": pt, "eta": eta, "phi": phi, "energy": e})
    b, n = base.summary(), naive.summary()
    assert abs(b["jet_response_median"] - 1) < 0.05 and b["jet_response_iqr"] < 0.15
    assert b["jet_match_fraction"] > 0.8
    # summing tracks and clusters double counts charged energy: the baseline must do better
    assert n["jet_response_median"] > 1.2 and b["jet_response_iqr"] < n["jet_response_iqr"]
