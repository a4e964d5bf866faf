"""The service on the shared in-process Ray instance: every searcher, results files, NaN handling."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import hpo
from hpo.components import names

pytestmark = pytest.mark.ray


def quadratic(config):
    state = hpo.get_checkpoint() or {"epoch": 0}
    for epoch in range(state["epoch"], config["max_epochs"]):
        loss = (config["x"] - 0.3) ** 2 + 0.1 * config["k"] + 1.0 / (epoch + 1)
        hpo.report(loss=loss, checkpoint={"epoch": epoch + 1})


SPACE = {"x": hpo.uniform(0.0, 1.0), "k": hpo.randint(0, 3)}
GRID_SPACE = {"x": hpo.choice([0.1, 0.3, 0.9]), "k": hpo.randint(0, 1)}


@pytest.mark.parametrize("search", ["random", "grid", "tpe", "hyperopt", "bohb"])
def test_every_searcher_runs(ray_cluster, tmp_path, search):
    if search not in names("search"):
        pytest.fail(f"searcher {search} is not built")
    space = GRID_SPACE if search == "grid" else SPACE
    res = hpo.tune(quadratic, space=space, metric="loss", mode="min", num_samples=4, max_epochs=3,
                   scheduler="fifo", search=search, seed=1, storage=str(tmp_path), name=search, verbose=False)
    n = 6 if search == "grid" else 4
    assert len(res.trials) == n and (res.trials["epochs"] == 3).all()
    assert set(res.trials["outcome"]) == {"completed"}
    assert len(res.curves) == 3 * n
    best = res.trials.loc[res.trials["loss"].idxmin()]
    assert res.best_metric == pytest.approx(best["loss"])
    assert res.best_config == {"x": best["x"], "k": best["k"]}
    for row in res.trials.itertuples():
        assert 0.0 <= row.x <= 1.0 and row.k in (0, 1, 2, 3)
    if search == "grid":
        assert sorted(zip(res.trials["x"], res.trials["k"])) == sorted(
            (x, k) for x in (0.1, 0.3, 0.9) for k in (0, 1))
    files = {p.name for p in (tmp_path / search).iterdir()}
    assert {"trials.parquet", "curves.parquet", "best.json", "experiment.yaml"} <= files
    doc = json.loads((tmp_path / search / "best.json").read_text())
    assert doc["value"] == pytest.approx(res.best_metric) and doc["config"] == res.best_config


@pytest.mark.parametrize("search", ["random", "tpe"])
def test_same_seed_same_configurations(ray_cluster, tmp_path, search):
    runs = []
    for i in range(2):
        res = hpo.tune(quadratic, space=SPACE, metric="loss", mode="min", num_samples=5, max_epochs=1,
                       scheduler="fifo", search=search, seed=7, storage=str(tmp_path), name=f"r{i}",
                       max_concurrent=1, verbose=False)
        runs.append(sorted(zip(res.trials["x"].round(12), res.trials["k"])))
    assert runs[0] == runs[1]


def test_results_files_and_curves(ray_cluster, tmp_path, mlpf_table):
    res = hpo.tune("replay", space={"row": hpo.randint(0, 295)}, metric="loss", mode="min", num_samples=3,
                   max_epochs=6, seed=3, storage=str(tmp_path), name="replay",
                   trainable_args={"table": str(mlpf_table)}, verbose=False)
    trials = pd.read_parquet(tmp_path / "replay" / "trials.parquet")
    curves = pd.read_parquet(tmp_path / "replay" / "curves.parquet")
    assert list(trials.columns[:2]) == ["trial_id", "row"]
    assert {"loss", "epochs", "outcome", "stop_reason"} <= set(trials.columns)
    from hpo.bench.table import load_table

    table = load_table(str(mlpf_table))
    for t in trials.itertuples():
        c = curves[curves.trial_id == t.trial_id].sort_values("epoch")
        assert list(c["epoch"]) == [1, 2, 3, 4, 5, 6]
        assert c["loss"].tolist() == pytest.approx(table.curves[t.row, :6].tolist())
    assert res.best_metric == pytest.approx(min(table.curves[r, 5] for r in trials["row"]))
    loaded = hpo.load_results(tmp_path / "replay")
    assert loaded.best_config == res.best_config


def diverging(config):
    for epoch in range(config["max_epochs"]):
        hpo.report(loss=float("nan") if (config["x"] > 0.5 and epoch == 1) else 1.0 + config["x"])


def test_non_finite_metric_stops_the_trial_with_reason(ray_cluster, tmp_path):
    res = hpo.tune(diverging, space={"x": hpo.choice([0.2, 0.9])}, metric="loss", mode="min", num_samples=2,
                   max_epochs=4, search="grid", storage=str(tmp_path), name="nan", verbose=False)
    t = res.trials.set_index("x")
    assert t.loc[0.9, "outcome"] == "non_finite" and t.loc[0.9, "stop_reason"].startswith("non-finite metric")
    assert t.loc[0.9, "epochs"] == 2
    assert t.loc[0.2, "outcome"] == "completed"
    assert res.best_config == {"x": 0.2} and math.isfinite(res.best_metric)


def dies_once(config):
    """The worker process dies (os._exit) at epoch 2 of the first attempt, or at every attempt."""
    import os

    state = hpo.get_checkpoint() or {"epoch": 0}
    marker = os.path.join(config["marker_dir"], f"died_{config['x']}")
    for epoch in range(state["epoch"], config["max_epochs"]):
        if epoch == 2 and (config["x"] == "always" or not os.path.exists(marker)):
            open(marker, "w").close()
            os._exit(1)
        hpo.report(loss=float(epoch), checkpoint={"epoch": epoch + 1})


def test_dead_worker_is_retried_from_checkpoint_then_failed(ray_cluster, tmp_path):
    res = hpo.tune(dies_once, space={"x": hpo.grid(["once", "always"])}, metric="loss", mode="min",
                   num_samples=1, max_epochs=4, search="random", storage=str(tmp_path), name="dies",
                   trainable_args={"marker_dir": str(tmp_path)}, verbose=False)
    t = res.trials.set_index("x")
    assert t.loc["once", "outcome"] == "completed" and t.loc["once", "epochs"] == 4
    once = res.curves[res.curves.trial_id == t.loc["once", "trial_id"]].sort_values("epoch")
    assert list(once["epoch"]) == [1, 2, 3, 4]  # resumed at epoch 3 from its checkpoint, nothing repeated
    assert t.loc["always", "outcome"] == "failed" and t.loc["always", "epochs"] == 2
    assert t.loc["always", "stop_reason"]  # the reason Tune recorded, after the bounded retries
    assert res.best_config == {"x": "once"}


def test_time_limit_stops_the_experiment_and_says_so(ray_cluster, tmp_path, mlpf_table):
    res = hpo.tune("replay", space={"row": hpo.randint(0, 295)}, metric="loss", mode="min", num_samples=4,
                   max_epochs=60, max_concurrent=1, time_limit_s=15, seed=1, storage=str(tmp_path), name="tl",
                   trainable_args={"table": str(mlpf_table), "seconds_per_epoch": 0.5}, verbose=False)
    assert set(res.trials["outcome"]) == {"time_limit"}
    assert (res.trials["stop_reason"].str.startswith("time limit")).all()
    assert res.best_metric is not None  # best among the partial curves
