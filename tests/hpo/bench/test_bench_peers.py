"""Peers of the scheduler benchmark (hpo.bench.peers, hpo.ray.bench): search space, Optuna loop,
Ray's ASHA code."""
from __future__ import annotations

from hpo.bench.peers import optuna_pruned, table_space
from hpo.bench.rows import PairedRows, paired_rows
from hpo.bench.simtime import simulate
from hpo.bench.synthetic import synthetic_table, table_from_curves
from hpo.bench.table import load_table
from hpo.ray.bench import RayASHACore
from hpo.space import Choice, Uniform


def test_table_space_of_the_mlpf_table(mlpf_table):
    table = load_table(str(mlpf_table))
    space = table_space(table)
    assert list(space) == list(table.hyperparameters)
    assert space["bin_size"] == Choice((8.0, 16.0, 32.0, 64.0, 128.0))
    assert isinstance(space["lr"], Uniform) and space["lr"].log
    assert isinstance(space["dropout"], Uniform) and not space["dropout"].log
    # every row's own configuration maps back to that row or to an earlier training of the same
    # configuration (the table repeats configurations: 183 distinct in 296 rows)
    for r in range(table.n_rows):
        m = table.nearest_row(table.row_config(r))
        assert m <= r and (table.params[m] == table.params[r]).all()


def test_optuna_loop_is_deterministic_and_starts_from_the_paired_rows():
    table = synthetic_table(rows=50, epochs=8, seed=1)
    a = optuna_pruned(table, pruner="hyperband", seed=4, n_trials=25, max_epochs=8)
    b = optuna_pruned(table, pruner="hyperband", seed=4, n_trials=25, max_epochs=8)
    assert (a.rows, a.epochs, a.chosen_row) == (b.rows, b.epochs, b.chosen_row)
    assert a.rows[:10] == paired_rows(50, 10, 4)
    assert a.epochs < 25 * 8  # the pruner stopped some trials
    sha = optuna_pruned(table, pruner="sha", seed=4, n_trials=25, max_epochs=8, epoch_cap=60)
    assert sha.epochs == 60


def test_ray_asha_decision_code_in_the_simulator():
    # rung at epoch 1 and 2 (R = 4, rf = 2): Ray stops a trial worse than the median of those
    # recorded before it at that rung; the first trial at a rung always continues
    table = table_from_curves([[5, 4, 3, 2], [6, 5, 4, 3], [1, 1, 1, 1]])
    core = RayASHACore(4, eta=2)
    rows = [0, 1, 2]
    src = PairedRows(table, 0, 3)
    src.rows = rows
    r = simulate(core, table, src, max_epochs=4, n_trials=3, workers=1)
    per_trial = {t: e for _, _, t, _, e, _ in r.log}
    assert per_trial == {"t00000": 4, "t00001": 1, "t00002": 4}
    assert r.chosen_row == 2 and r.epochs == 9
