"""The benchmark scripts still run against today's package (a refactor once broke
``overhead.py`` without any test noticing).  Each runs a tiny configuration, without Ray, on the
tables that ship in the repository: ``HPO_SHARED`` points at an empty folder, so the shared MLPF and
LCBench tables are left out, as on a clean clone."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture
def no_shared(tmp_path, monkeypatch):
    monkeypatch.setenv("HPO_SHARED", str(tmp_path / "nothing"))
    return tmp_path


def test_overhead_cores_alone_and_its_ray_schedulers(no_shared):
    overhead = _load("overhead")
    out = no_shared / "overhead.md"
    assert overhead.main(["--no-ray", "--core-trials", "20", "--results", "4", "--out", str(out)]) == 0
    text = out.read_text()
    for core in ("| asha |", "| ray-asha |", "| hyperband |", "| swift-svr |", "| predictive |"):
        assert core in text
    from ray.tune.schedulers import TrialScheduler

    for name in ("asha", "ray-asha", "hyperband", "ray-hyperband", "swift", "predictive"):
        # the Ray part's schedulers are built without a cluster (this is what the refactor broke)
        assert isinstance(overhead.ray_scheduler(name, 4, "svr" if name == "swift" else None), TrialScheduler)


def test_predictive_defaults_and_variants_on_the_recorded_tables(no_shared):
    defaults = _load("predictive_defaults")
    assert set(defaults.find_tables()) == {"curves_mlpf_gnn", "curves_ucluster"}
    out = no_shared / "defaults.md"
    assert defaults.main(["--seeds", "1", "--out", str(out)]) == 0
    assert "## Chosen defaults:" in out.read_text()
    assert (no_shared / "defaults.csv").is_file()
    variants = _load("predictive_variants")
    out = no_shared / "variants.md"
    assert variants.main(["--seeds", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert all(f"`{name}`" in text for name in variants.VARIANTS)
    assert "| curves_ucluster |" in text


def test_rung_ranks_on_the_recorded_tables(no_shared):
    mod = _load("rung_ranks")
    out = no_shared / "ranks.md"
    assert mod.main(["--out", str(out)]) == 0
    text = out.read_text()
    assert "| curves_mlpf_gnn | 16 | 1, 2 |" in text and "| curves_ucluster | 10 | 1, 2 |" in text
    import numpy as np

    curves = np.array([[3.0, 2.0, 1.0], [1.0, 3.0, 3.0], [2.0, 1.0, 2.0]] * 3)  # epoch 1 ranks backwards
    from hpo.bench.synthetic import table_from_curves

    row = mod.table_row(table_from_curves(curves))
    assert row["rungs"] == [1] and row["rho_final"][0] == -1.0 and row["near_best"] == 3


def test_variants_subset_and_the_hedge_rule(no_shared):
    variants = _load("predictive_variants")
    with pytest.raises(SystemExit):
        variants.main(["--seeds", "1", "--variants", "default,no-such-variant"])
    from hpo.protocols import CONTINUE, PAUSE

    core = variants.HedgeFirstRung(52)  # rungs 1, 2, 6, 17: every 4th new trial passes the 1-epoch cut
    decisions = []
    for i in range(8):
        core.on_trial_add(f"t{i}")
        decisions.append(core.on_result(f"t{i}", 1, 1.0 + i))
    assert decisions == [PAUSE, PAUSE, PAUSE, CONTINUE] * 2
    assert core.at["t3"][0][0] == 4.0  # the passing trial's 1-epoch loss is still recorded at the rung


def test_stress_tables_and_their_report(no_shared):
    mod = _load("stress_tables")
    import numpy as np

    from hpo.bench.synthetic import stress_table

    smooth, crossing = stress_table("smooth"), stress_table("crossing")
    assert smooth.curves.shape == crossing.curves.shape == (300, 50)
    for table, first, final in ((smooth, (0.9, 1.0), (0.65, 0.85)), (crossing, (0.0, 0.05), (0.15, 0.35))):
        lr = table.params[:, 0]  # the epoch-1 leader and the best final, where the docstring says they are
        assert first[0] <= lr[np.argmin(table.curves[:, 0])] <= first[1]
        assert final[0] <= lr[np.argmin(table.curves[:, -1])] <= final[1]
    with pytest.raises(ValueError):
        stress_table("nope")
    out = no_shared / "stress.md"
    assert mod.main(["--seeds", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| predictive: default |" in text and "| asha-eta2 |" in text and "| crossing |" in text


def test_mlpf600_misses_says_when_the_table_is_missing(no_shared, capsys):
    mod = _load("mlpf600_misses")
    assert mod.main(["--seeds", "1"]) == 2
    assert "mlpf_delphes.csv" in capsys.readouterr().out


def test_prediction_headroom_oracle_finds_the_best_and_errors_are_measured(no_shared):
    headroom = _load("prediction_headroom")
    tables = headroom.find_tables()
    assert set(tables) == {"curves_mlpf_gnn", "curves_ucluster"}
    for path in tables.values():
        for name in ("oracle-rank", "oracle-veto"):
            regrets, epochs, errors, other = headroom.run(name, path, seed=0)
            assert regrets[2] == 0.0 and errors == [] and other == 0  # exact finals: the best at B
        blurred = headroom.run("oracle-rank-1", path, seed=3)
        assert blurred == headroom.run("oracle-rank-1", path, seed=3)  # the error per trial is seeded
    # on the 10-row UCluster table the oracle's ranking finishes the best row by 0.5 B; ours has no answer yet
    assert headroom.run("oracle-rank", tables["curves_ucluster"], seed=0)[0][1] == 0.0
    assert headroom.run("default", tables["curves_ucluster"], seed=0)[0][1] == 1.0
    out = no_shared / "headroom.md"
    assert headroom.main(["--seeds", "2", "--settings", "default,oracle-veto", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| `oracle-veto` | rank and stop by the exact final loss |" in text
    assert "## Our predictor's error where it decided" in text and "| curves_ucluster | 0 |" in text


def test_prediction_headroom_config_model_fits_and_ranks_the_lower_rungs(no_shared):
    from hpo.bench.methods import predictive_parts
    from hpo.bench.simtime import simulate
    from hpo.bench.synthetic import synthetic_table

    headroom, learned = _load("prediction_headroom"), _load("headroom_learned")
    table = synthetic_table(rows=150, epochs=9, seed=4)
    core, source = predictive_parts(table, seed=1, max_epochs=9, n_trials=150, replace=False,
                                    core_class=learned.ConfigModelCore)
    source = headroom.RowRecorder(source)
    core.attach(table, source.rows, seed=1)
    simulate(core, table, source, max_epochs=9, n_trials=150, workers=2, epoch_cap=400)
    assert core.version >= 1 and core.models  # a level reached min_target trials and a model was fitted
    assert {j for j, _ in core.models} == {0}  # only the rungs below that level are ranked by it
    assert len(core.params) == table.n_rows and core.level >= 1


def test_prediction_headroom_table_prior_is_scale_free_and_ranks_above_the_first_rung(no_shared):
    import numpy as np

    from hpo.bench.methods import predictive_parts
    from hpo.bench.simtime import simulate
    from hpo.bench.synthetic import synthetic_table

    headroom, learned = _load("prediction_headroom"), _load("headroom_learned")
    rng = np.random.default_rng(0)
    curves = [list(np.cumsum(rng.random(9))[::-1] + rng.random()) for _ in range(12)]
    f = learned.rank_features(curves, 6)
    assert f.shape == (12, 4) and np.all((f > 0) & (f < 1))
    assert np.array_equal(f, learned.rank_features([[3.0 * v + 7.0 for v in c] for c in curves], 6))
    z = [learned.rung_loss(c, 6) for c in curves]
    assert np.array_equal(np.argsort(f[:, 0]), np.argsort(z))  # the first feature ranks the rung loss

    class WorstFirst:  # a stand-in prior: the cohort's highest rung loss ranks first
        def predict(self, X):
            return -X[:, 0]

    table = synthetic_table(rows=60, epochs=9, seed=4)
    core, source = predictive_parts(table, seed=1, max_epochs=9, n_trials=60, replace=False,
                                    core_class=learned.TablePriorCore, options={"min_pairs": 10 ** 9})
    core.model = WorstFirst()
    simulate(core, table, source, max_epochs=9, n_trials=60, workers=2, epoch_cap=300)
    for j in range(len(core.rung_epochs)):
        ranked = [core.at[t][j][0] for _, t, _ in core._ranked(j, j)]
        assert len(ranked) >= 3
        # the 1-epoch rung keeps the rank rule (best loss first); the prior ranks the rungs above it
        assert ranked == sorted(ranked, reverse=j > 0)
    # without the shared tables, each recorded table's prior is learned from the other one
    for path in headroom.find_tables().values():
        assert headroom.run("table-prior", path, seed=0) == headroom.run("table-prior", path, seed=0)


def test_prediction_headroom_in_table_ceiling_is_cross_fitted_and_ranks_by_it(no_shared):
    import numpy as np

    from hpo.bench.methods import predictive_parts
    from hpo.bench.simtime import simulate
    from hpo.bench.synthetic import synthetic_table
    from hpo.bench.table import load_table, write_table

    learned = _load("headroom_learned")
    table = synthetic_table(rows=60, epochs=9, seed=4)
    path = write_table(table, no_shared / "t.csv")
    pred = learned.in_table_predictions(path, 3, "curve+config", 0)
    assert sorted(pred) == [1, 3] and all(v.shape == (60,) and np.isfinite(v).all() for v in pred.values())
    # cross-fitted: a row's own final loss never reaches its own prediction, only the other half's
    moved = table.curves.copy()
    moved[0, -1] += 100.0
    path2 = write_table(type(table)(table.path, table.hyperparameters, table.params, moved), no_shared / "t2.csv")
    pred2 = learned.in_table_predictions(path2, 3, "curve+config", 0)
    for m in pred:
        assert pred2[m][0] == pred[m][0]
        assert np.sum(pred2[m] != pred[m]) >= 10  # the rows of the other half learned from row 0
    # the core ranks the rungs above the first by those predictions, the first by its own rule
    cls = type("InTable", (learned.InTableCore,), {"features": "curve", "first_rung": False})
    loaded = load_table(path)
    assert np.array_equal(loaded.curves, table.curves) and np.array_equal(loaded.params, table.params)  # exact
    core, source = predictive_parts(loaded, seed=1, max_epochs=9, n_trials=60, replace=False, core_class=cls)
    source = _load("prediction_headroom").RowRecorder(source)
    core.attach(loaded, source.rows, seed=0)
    simulate(core, loaded, source, max_epochs=9, n_trials=60, workers=2, epoch_cap=300)
    first = [core.at[t][0][0] for _, t, _ in core._ranked(0, 0)]
    assert first == sorted(first)
    ranked = [t for _, t, _ in core._ranked(1, 1)]
    keys = [core.pred[3][source.rows[t]] for t in ranked]
    assert len(ranked) >= 5 and keys == sorted(keys)
    assert [core.at[t][1][0] for t in ranked] != sorted(core.at[t][1][0] for t in ranked)  # not the rank rule
