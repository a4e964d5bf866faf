"""Reader for files in the HLS4ML jet-data layout (hand-written file, as the real Zenodo files)."""
import h5py
import numpy as np
import pytest

from trainables.ucluster.hls4ml import JET_FEATURES, PARTICLE_FEATURES, read_jets, write_jets


def hls4ml_file(path, labels, masses, with_names=True):
    """A file written the way the HLS4ML release is: names as byte strings, 5 one-hot label columns."""
    n = len(labels)
    jets = np.zeros((n, len(JET_FEATURES)), np.float32)
    col = {name: i for i, name in enumerate(JET_FEATURES)}
    for i, (lab, m) in enumerate(zip(labels, masses)):
        jets[i, col[lab]] = 1.0
        jets[i, col["j_mass"]] = m
        jets[i, col["j_pt"]] = 1000.0 + i
    cons = np.zeros((n, 100, 16), np.float32)
    cons[:, 0, 5] = np.arange(1, n + 1)  # j1_pt of the first constituent
    with h5py.File(path, "w") as fh:
        fh["jets"] = jets
        fh["jetConstituentList"] = cons
        if with_names:
            fh["jetFeatureNames"] = np.array([s.encode() for s in JET_FEATURES])
            fh["particleFeatureNames"] = np.array([s.encode() for s in PARTICLE_FEATURES])


def test_reads_labels_mass_and_constituents(tmp_path):
    hls4ml_file(tmp_path / "a.h5", ["j_w", "j_g", "j_t", "j_z", "j_q"], [80.0, 30.0, 175.0, 91.0, 20.0])
    jets = read_jets(str(tmp_path / "a.h5"))
    np.testing.assert_array_equal(jets.label, [0, -1, 2, 1, -1])  # g and q are not UCluster classes
    np.testing.assert_allclose(jets.mass, [80.0, 30.0, 175.0, 91.0, 20.0])
    np.testing.assert_allclose(jets.pt, [1000, 1001, 1002, 1003, 1004])
    assert jets.constituents.shape == (5, 100, 16)
    np.testing.assert_allclose(jets.constituents[:, 0, 5], [1, 2, 3, 4, 5])


def test_directory_positional_layout_and_max_jets(tmp_path):
    hls4ml_file(tmp_path / "b1.h5", ["j_w", "j_z"], [80.0, 90.0], with_names=False)
    hls4ml_file(tmp_path / "b2.h5", ["j_t", "j_t"], [170.0, 180.0], with_names=False)
    jets = read_jets(str(tmp_path))
    np.testing.assert_array_equal(jets.label, [0, 1, 2, 2])
    assert len(read_jets(str(tmp_path), max_jets=3)) == 3


def test_writer_round_trip_and_errors(tmp_path):
    cons = np.random.default_rng(0).random((3, 10, 16)).astype(np.float32)
    rows = np.full((3, len(JET_FEATURES)), np.nan, np.float32)
    col = {name: i for i, name in enumerate(JET_FEATURES)}
    rows[:, [col[c] for c in ("j_g", "j_q", "j_w", "j_z", "j_t")]] = 0
    rows[:, col["j_z"]] = 1
    rows[:, col["j_mass"]] = [90, 91, 92]
    rows[:, col["j_pt"]] = 900
    write_jets(str(tmp_path / "g.h5"), cons, rows)
    jets = read_jets(str(tmp_path / "g.h5"))
    np.testing.assert_array_equal(jets.label, [1, 1, 1])
    np.testing.assert_allclose(jets.constituents, cons)
    with pytest.raises(ValueError):
        write_jets(str(tmp_path / "bad.h5"), cons[..., :8], rows)
    with h5py.File(tmp_path / "not_jets.h5", "w") as fh:
        fh["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="jetConstituentList"):
        read_jets(str(tmp_path / "not_jets.h5"))
    with pytest.raises(FileNotFoundError):
        read_jets(str(tmp_path / "missing"))
