"""benchmarks/compare_schedulers.py on a tiny configuration (simulation + report), and one
Ray-driven run of ours and of Ray's ASHA through hpo.ray.bench."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from hpo.bench.methods import LABELS, SIM_METHODS
from hpo.bench.rows import paired_rows
from hpo.bench.synthetic import synthetic_table
from hpo.bench.table import write_table

ROOT = Path(__file__).resolve().parents[3]


def load_script():
    spec = importlib.util.spec_from_file_location("compare_schedulers", ROOT / "benchmarks" / "compare_schedulers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def small_table(path, rows=40, epochs=8, seed=1):
    t = synthetic_table(rows=rows, epochs=epochs, seed=seed)
    write_table(t, path)
    return t


def test_compare_sim_and_report_on_a_tiny_configuration(tmp_path):
    mod = load_script()
    t = small_table(tmp_path / "tiny.csv")
    sim = tmp_path / "sim.csv"
    methods = SIM_METHODS + ("one-epoch", "sh")  # dehb would build its venv: tests/test_bench_protocol.py
    args = ["sim", "--table", str(tmp_path / "tiny.csv"), "--seeds", "2", "--max-epochs", "8", "--asha-trials", "12",
            "--random-trials", "4", "--methods", ",".join(methods), "--out", str(sim)]
    assert mod.main(args) == 0
    df = pd.read_csv(sim)
    assert len(df) == 2 * len(methods) and set(df["method"]) == set(methods)
    assert (df["regret"] >= 0).all() and (df["epochs"] > 0).all()
    best = float(t.curves[:, -1].min())
    assert ((df["final_loss"] - best - df["regret"]).abs() < 1e-9).all()
    first = df.copy()
    assert mod.main(args) == 0  # deterministic: the same numbers again
    again = pd.read_csv(sim)
    pd.testing.assert_frame_equal(first.drop(columns="wall_s"), again.drop(columns="wall_s"))
    out = tmp_path / "schedulers.md"
    assert mod.main(["report", "--sim", str(sim), "--ray", str(tmp_path / "none.csv"), "--sim-check",
                     str(tmp_path / "none.csv"), "--out", str(out)]) == 0
    text = out.read_text()
    assert all(LABELS[m] in text for m in SIM_METHODS) and "no GPU" in text
    assert (tmp_path / "schedulers_tiny.png").stat().st_size > 10_000
    summary = tmp_path / "pool.md"
    assert mod.main(["summary", "--sim", str(sim), "--out", str(summary)]) == 0
    text = summary.read_text()
    assert "@ 0.25× HB" in text and all(LABELS[m] in text for m in methods)
    assert (tmp_path / "pool_tiny.png").stat().st_size > 10_000


def _ray_table(tmp_path):
    from hpo.bench.table import load_table

    # 10 epochs: hpo.tune checks the default max_epochs (10) against the table before applying
    # max_epochs=4 (reported to the lead)
    small_table(tmp_path / "tiny.csv", rows=20, epochs=10)
    return load_table(str(tmp_path / "tiny.csv"))


def test_ray_driven_run_uses_the_paired_rows(ray_cluster, tmp_path):
    from hpo.ray.bench import ray_run

    table = _ray_table(tmp_path)
    rows = paired_rows(table.n_rows, 4, 0)
    r = ray_run("asha", table, seed=0, max_epochs=4, eta=2, asha_trials=4, random_trials=2)
    assert r["trials"] == 4 and 4 <= r["epochs"] <= 16
    assert r["row"] in rows  # the answer is one of the paired rows
    assert r["loss_at_R"] == float(table.curves[r["row"], 3])
    assert r["regret"] == table.final_loss(r["row"]) - float(table.curves[:, -1].min())


@pytest.mark.slow
def test_ray_driven_hyperband_and_ray_asha_agree_with_the_simulation(ray_cluster, tmp_path):
    from hpo.bench.methods import sim_parts
    from hpo.bench.simtime import simulate
    from hpo.ray.bench import ray_run

    table = _ray_table(tmp_path)
    for method in ("hyperband", "ray-asha"):
        r = ray_run(method, table, seed=1, max_epochs=4, eta=2, asha_trials=6, random_trials=2)
        core, src = sim_parts(method, table, seed=1, max_epochs=4, eta=2, n_trials=r["trials"])
        s = simulate(core, table, src, max_epochs=4, n_trials=r["trials"], workers=2)
        if method == "hyperband":  # synchronous: the outcome does not depend on timing
            assert (r["epochs"], r["row"]) == (s.epochs, s.chosen_row)
        else:
            assert r["row"] in s.rows and abs(r["epochs"] - s.epochs) <= 6
