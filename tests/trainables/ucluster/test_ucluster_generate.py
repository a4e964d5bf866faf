"""Pythia 8 + FastJet jet generation: selection, layout, determinism, multi-process, cache."""
import json
import os

import numpy as np
import pytest

from trainables.ucluster import generate as gen
from trainables.ucluster.features import COL
from trainables.ucluster.hls4ml import JET_FEATURES, read_jets

J = {n: i for i, n in enumerate(JET_FEATURES)}


def test_chunk_jets_pass_the_selection_and_are_reproducible():
    p = gen.GenerationParams(jets_per_class=3, jets_per_chunk=3)
    cons, rows, n_events, cpu = gen.generate_chunk(("top", 11, 3, p))
    assert cons.shape == (3, 100, 16) and rows.shape == (3, 59) and n_events >= 3 and cpu > 0
    assert np.all((rows[:, J["j_pt"]] > 800) & (rows[:, J["j_pt"]] < 1400))
    assert np.all(rows[:, J["j_t"]] == 1) and np.all(rows[:, J["j_w"]] == 0)
    pt = cons[:, :, COL["j1_pt"]]
    assert np.all(np.diff(pt, axis=1) <= 0)  # sorted by decreasing pT, zero padding at the end
    n = (pt > 0).sum(1)
    np.testing.assert_array_equal(n, np.minimum(rows[:, J["j_multiplicity"]], 100))
    for jet, k, row in zip(cons, n, rows):  # constituents add up to the jet when none was cut
        if k < 100:
            p4 = jet[:k, [COL["j1_px"], COL["j1_py"], COL["j1_pz"], COL["j1_e"]]].astype(np.float64).sum(0)
            m = np.sqrt(max(p4[3] ** 2 - (p4[:3] ** 2).sum(), 0.0))
            assert m == pytest.approx(row[J["j_mass"]], rel=2e-3)
    assert np.all(rows[:, J["j_mass_mmdt"]] <= rows[:, J["j_mass"]] + 1e-3)
    again = gen.generate_chunk(("top", 11, 3, p))
    np.testing.assert_array_equal(cons, again[0])
    np.testing.assert_array_equal(rows, again[1])


def test_multiprocess_output_equals_single_process_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("HPO_CACHE", str(tmp_path / "cache"))
    p = gen.GenerationParams(jets_per_class=2, jets_per_chunk=1, seed=3)
    path = gen.cached_dataset(p, workers=2, progress=False)
    assert path.startswith(str(tmp_path / "cache" / "ucluster" / p.key()))
    stats = json.load(open(os.path.join(os.path.dirname(path), "generation.json")))
    assert stats["jets"] == 6 and stats["jets_per_s"] > 0
    single = tmp_path / "single.h5"
    gen.generate(p, str(single), workers=1, progress=False)
    a, b = read_jets(path), read_jets(str(single))
    np.testing.assert_array_equal(a.constituents, b.constituents)
    np.testing.assert_array_equal(a.label, [0, 0, 1, 1, 2, 2])
    # second call is a cache hit: generation must not run again
    monkeypatch.setattr(gen, "generate", lambda *a, **k: pytest.fail("regenerated a cached sample"))
    assert gen.cached_dataset(p, workers=2, progress=False) == path
    assert gen.GenerationParams(jets_per_class=2, jets_per_chunk=1, seed=4).key() != p.key()
