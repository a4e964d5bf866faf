"""UCluster constituent columns and features against hand-computed values."""
import math

import numpy as np
import pytest

from trainables.ucluster.features import (COL, constituent_columns, mass_bin_labels, select_jets,
                                          ucluster_features, wrap_phi)
from trainables.ucluster.hls4ml import JetArrays


def massless(pt, eta, phi):
    return [pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta), pt * math.cosh(eta)]


JET = np.array([1000.0, 0.0, 0.0, 1000.0])  # pT 1000, eta 0, phi 0, E 1000


def test_columns_match_hand_computation():
    cols = constituent_columns(np.array([massless(100, 0.3, -0.2), massless(300, -0.1, 0.4)]), JET, 4)
    first = cols[0]  # sorted by pT: the 300 GeV constituent comes first
    assert first[COL["j1_pt"]] == pytest.approx(300, rel=1e-6)
    assert first[COL["j1_ptrel"]] == pytest.approx(0.3, rel=1e-6)
    assert first[COL["j1_etarel"]] == pytest.approx(-0.1, abs=1e-6)
    assert first[COL["j1_phirel"]] == pytest.approx(0.4, abs=1e-6)
    assert first[COL["j1_deltaR"]] == pytest.approx(math.sqrt(0.01 + 0.16), rel=1e-6)
    assert first[COL["j1_e"]] == pytest.approx(300 * math.cosh(0.1), rel=1e-6)
    assert first[COL["j1_erel"]] == pytest.approx(0.3 * math.cosh(0.1), rel=1e-6)
    assert first[COL["j1_costhetarel"]] == pytest.approx(math.cos(0.4) / math.cosh(0.1), rel=1e-6)
    assert cols[1][COL["j1_pt"]] == pytest.approx(100, rel=1e-6)
    assert np.all(cols[2:] == 0)  # padding

    feats = ucluster_features(cols[None])[0]
    expected = [-0.1, 0.4, math.log(0.3), math.sqrt(0.17), math.log(300 * math.cosh(0.1)),
                math.log(0.3 * math.cosh(0.1)), math.log(300), math.cos(0.4) / math.cosh(0.1)]
    np.testing.assert_allclose(feats[0], expected, rtol=1e-5, atol=1e-6)
    assert feats[1, 2] == pytest.approx(math.log(0.1), rel=1e-5)
    assert np.all(feats[2:] == 0)  # log of a padding 0 is 0, not -inf


def test_phi_wraps_around():
    jet = np.array(massless(1000, 0.0, math.pi - 0.05))
    cols = constituent_columns(np.array([massless(50, 0.0, -math.pi + 0.05)]), jet, 2)
    assert cols[0, COL["j1_phirel"]] == pytest.approx(0.1, abs=1e-6)
    assert cols[0, COL["j1_deltaR"]] == pytest.approx(0.1, abs=1e-6)
    assert wrap_phi(2 * math.pi - 0.1) == pytest.approx(-0.1)


def test_max_constituents_keeps_hardest():
    p4 = np.array([massless(pt, 0.0, 0.01 * pt) for pt in range(1, 8)])
    cols = constituent_columns(p4, JET, 3)
    np.testing.assert_allclose(cols[:, COL["j1_pt"]], [7, 6, 5], rtol=1e-6)


def test_mass_bins_and_window():
    np.testing.assert_array_equal(mass_bin_labels(np.array([5.0, 15.0, 99.0, 199.0, 250.0])), [0, 1, 9, 19, 19])
    jets = JetArrays(np.zeros((5, 2, 16), np.float32), np.array([5.0, 50.0, 150.0, 210.0, 80.0]),
                     np.full(5, 900.0), np.array([0, 1, 2, 0, -1]))
    kept = select_jets(jets)
    np.testing.assert_array_equal(kept.mass, [50.0, 150.0])
    np.testing.assert_array_equal(kept.label, [1, 2])
