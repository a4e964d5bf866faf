"""The benchmark's finite-pool protocol: rows without replacement, screening peers, exact budgets."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hpo.bench.methods import REGISTRY, sim_parts, trials_for, unavailable
from hpo.bench.peers import optuna_pruned
from hpo.bench.protocol_report import anytime_at
from hpo.bench.report import regret_at
from hpo.bench.rows import BOHBRows, PairedRows, paired_rows
from hpo.bench.screening import one_epoch_core, sh_core, sh_rungs
from hpo.bench.simtime import simulate
from hpo.bench.synthetic import synthetic_table, table_from_curves

TABLE = synthetic_table(rows=30, epochs=8, seed=5)


def test_paired_rows_without_replacement_end_with_the_table():
    src = PairedRows(TABLE, 3, 100, replace=False)
    got = [src.suggest(f"t{i}")["row"] for i in range(30)]
    assert sorted(got) == list(range(30))
    assert got == paired_rows(30, 30, 3)  # the same stream as with replacement, while it lasts
    assert src.finished and src.suggest("t30") is None
    again = PairedRows(TABLE, 3, 100, replace=False)
    again.set_state(src.get_state())
    assert again.finished


def test_nearest_row_skips_used_rows():
    cfg = TABLE.row_config(7)
    assert TABLE.nearest_row(cfg) == 7
    assert TABLE.nearest_row(cfg, exclude={7}) != 7
    with pytest.raises(ValueError):
        TABLE.nearest_row(cfg, exclude=set(range(30)))


@pytest.mark.parametrize("method", ["asha", "hyperband", "bohb-hb", "tpe-asha", "random-full"])
def test_no_row_is_trained_twice_and_runs_end_when_the_pool_does(method):
    n = 45  # more trials than rows
    core, src = sim_parts(method, TABLE, seed=2, max_epochs=8, eta=2, n_trials=n, replace=False)
    r = simulate(core, TABLE, src, max_epochs=8, n_trials=n, workers=2)
    assert len(r.rows) == len(set(r.rows)) <= 30
    assert r.chosen_row is not None


def test_bohb_state_round_trips():
    from hpo.bench.peers import table_space

    a = BOHBRows(TABLE, 1, 20, table_space(TABLE), replace=False)
    for i in range(12):
        a.on_result(f"t{i}", 1, float(TABLE.curves[a.suggest(f"t{i}")["row"], 0]))
    b = BOHBRows(TABLE, 1, 20, table_space(TABLE), replace=False)
    b.set_state(a.get_state())
    assert [a.suggest(f"x{i}") for i in range(5)] == [b.suggest(f"x{i}") for i in range(5)]


def test_optuna_without_replacement_uses_each_row_once():
    r = optuna_pruned(TABLE, pruner="sha", seed=4, n_trials=60, max_epochs=8, replace=False)
    assert len(r.rows) == len(set(r.rows)) == 30


def test_one_epoch_screening_trains_everyone_once_then_the_top_two():
    curves = [[5, 4, 3, 2], [1, 1, 1, 1], [3, 2, 1, 0.5], [4, 4, 4, 4], [2, 2, 2, 0.1]]
    table = table_from_curves(curves)
    core = one_epoch_core(4, top_k=2)
    r = simulate(core, table, PairedRows(table, 0, 5, replace=False), max_epochs=4, n_trials=5, workers=2)
    assert r.epochs == 5 + 2 * 3
    finished = {row for row, e in ((r.trial_rows[t], e) for t, e in r.per_trial_epochs.items()) if e == 4}
    assert finished == {1, 4}  # epoch-1 losses 1 and 2
    assert r.chosen_row == 4


def test_one_successive_halving_bracket_from_one_epoch():
    assert sh_rungs(100, 2) == (1, 2, 4, 8, 16, 32, 64, 100)
    assert sh_rungs(8, 2) == (1, 2, 4, 8)
    r = simulate(sh_core(8, 2), TABLE, PairedRows(TABLE, 0, 16, replace=False), max_epochs=8, n_trials=16,
                 workers=1)
    assert r.epochs == 16 * 1 + 8 * 1 + 4 * 2 + 2 * 4  # 16 at 1, 8 to 2, 4 to 4, 2 to 8
    assert sum(e == 8 for e in r.per_trial_epochs.values()) == 2


def test_trial_counts_and_the_registry():
    assert trials_for("one-epoch", 8, 2, 40, 10, screen_trials=30) == 30
    assert trials_for("random-full", 8, 2, 40, 10) == 10
    assert {"one-epoch", "sh", "dehb", "predictive", "ray-asha"} <= set(REGISTRY)
    assert unavailable("predictive") is None


def test_predictive_rows_are_built_in_one_place():
    from hpo.bench.methods import predictive_parts

    core, src = predictive_parts(TABLE, seed=2, max_epochs=8, n_trials=30, replace=False, options={"k": 2})
    assert isinstance(src, BOHBRows) and core.options()["k"] == 2 and core.options()["eta"] == 3
    core, src = predictive_parts(TABLE, seed=2, max_epochs=8, n_trials=30, sampler="random")
    assert type(src) is PairedRows
    with pytest.raises(ValueError, match="sampler"):
        predictive_parts(TABLE, seed=2, max_epochs=8, n_trials=30, sampler="tpe")
    rank, _ = sim_parts("predictive-rank", TABLE, seed=2, max_epochs=8, eta=2, n_trials=30)
    assert rank.options()["min_pairs"] == 10 ** 9


def test_regret_is_read_at_exactly_n_epochs():
    curves = pd.DataFrame({"seed": [0, 0, 1], "epochs": [10, 1606, 5], "regret": [2.0, 0.0, 1.0]})
    assert regret_at(curves, [0, 1], 1606) == 0.5  # the improvement at 1606 counts at 1606
    assert regret_at(curves, [0, 1], 1605) == 1.5
    assert math.isnan(regret_at(curves, [0, 1], 9))
    got = anytime_at(np.array([10, 1606]), np.array([2.0, 0.0]), np.array([9, 10, 1605, 1606, 5000]))
    assert np.isnan(got[0]) and list(got[1:]) == [2.0, 2.0, 0.0, 0.0]


def test_dehb_peer_space_and_run_when_its_venv_exists():
    from hpo.bench import dehb_peer

    space = dehb_peer.worker_space(TABLE)
    assert set(space) == set(TABLE.hyperparameters)
    py = dehb_peer.venv_dir() / "bin" / "python"
    if not py.exists():
        pytest.skip(f"DEHB venv not built ({py}); compare_schedulers.py builds it on first use")
    client = dehb_peer.DEHBClient(py)
    try:
        a = dehb_peer.dehb_run(client, TABLE, seed=1, max_epochs=8, eta=2, epoch_cap=80)
        b = dehb_peer.dehb_run(client, TABLE, seed=1, max_epochs=8, eta=2, epoch_cap=80)
    finally:
        client.close()
    assert a.rows == b.rows and a.epochs == b.epochs <= 80
    assert len(a.rows) == len(set(a.rows))


def test_goals_give_paired_differences_over_seeds(tmp_path):
    from hpo.bench.goals import goal_lines, paired
    from hpo.bench.protocol_report import FRACTIONS

    path = tmp_path / "tiny.csv"  # finals 0..4: best 0, median - best 2
    path.write_text("x," + ",".join(f"loss_{e}" for e in range(8)) + "\n" +
                    "".join(f"{r},{','.join([str(r + 1)] * 7)},{r}\n" for r in range(5)))
    raw = {"predictive": [0.0, 2.0, 4.0], "ray-asha": [2.0, 2.0, 2.0], "asha": [3.0, 3.0, 3.0]}
    sim = pd.DataFrame([{"table": str(path), "method": m, "seed": s, "max_epochs": 8, "epochs": 40,
                         "regret": r[s]} for m, r in raw.items() for s in range(3)])
    curves = pd.DataFrame([{"table": str(path), "method": m, "seed": s, "epochs": 1, "regret": r[s]}
                           for m, r in raw.items() for s in range(3)])
    overall = {m: [[float(np.mean(r)) / 2] for _ in FRACTIONS] for m, r in raw.items()}
    rows = {line.split(" | ")[0]: line for line in goal_lines(sim, curves, overall) if line.startswith("| ")}
    # per seed, predictive minus Ray's ASHA (the best peer) is -1, 0, +1 normalised: 0 ± 1/sqrt(3)
    assert rows["| lowest mean @ 0.5× HB"].endswith("| no | +0.000 ± 0.577 (minus the peer) |")
    assert "+0.500 ± 0.577 (minus half the peer's)" in rows["| @ 0.5× HB at most half the best peer's"]
    assert rows["| worst excess over Ray's ASHA at a budget on a table"].endswith(
        "| yes | +0.000 ± 0.577 (minus Ray's ASHA) |")
    assert paired(np.array([0.1, 0.3])) == "+0.200 ± 0.100"
