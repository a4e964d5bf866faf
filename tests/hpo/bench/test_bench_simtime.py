"""Simulated-time replay (hpo.bench.simtime): determinism, paired seeds, time semantics."""
from __future__ import annotations

import pytest

from hpo.bench.methods import sim_parts, trials_for
from hpo.bench.rows import paired_rows
from hpo.bench.rows import PairedRows
from hpo.bench.simtime import recorded_duration, simulate
from hpo.bench.synthetic import synthetic_table, table_from_curves
from hpo.schedulers.base import CoreBase

TABLE = synthetic_table(rows=60, epochs=16, seed=3)
METHODS = ("asha", "hyperband", "swift-svr", "bohb-hb", "tpe-asha", "random-full", "ray-asha")


def run(method, seed, workers=2, cap=None):
    n = trials_for(method, 16, 2, 40, 10)
    core, src = sim_parts(method, TABLE, seed=seed, max_epochs=16, eta=2, n_trials=n)
    return simulate(core, TABLE, src, max_epochs=16, n_trials=n, workers=workers, epoch_cap=cap)


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_gives_identical_event_log(method):
    a, b = run(method, 5), run(method, 5)
    assert a.log == b.log and len(a.log) == a.epochs > 0
    assert (a.epochs, a.chosen_row, a.sim_time, a.anytime) == (b.epochs, b.chosen_row, b.sim_time, b.anytime)
    assert run(method, 6).log != a.log  # the seed matters


def test_paired_seeds_give_every_random_method_the_same_rows():
    seq = paired_rows(TABLE.n_rows, 200, 11)
    for method in ("asha", "hyperband", "swift-svr", "random-full", "ray-asha"):
        r = run(method, 11)
        assert r.rows == seq[:len(r.rows)], method
        assert r.trials_started == trials_for(method, 16, 2, 40, 10)
    # model-based methods start from the same rows: TPE's start-up trials are the paired rows
    assert run("tpe-asha", 11).rows[:10] == seq[:10]
    # BOHB's draws before it has a model are the paired rows of their positions
    core, src = sim_parts("bohb-hb", TABLE, seed=11, max_epochs=16, eta=2, n_trials=43)
    r = simulate(core, TABLE, src, max_epochs=16, n_trials=43, workers=2)
    assert r.rows[:5] == seq[:5] and src.n_model > 0


def test_time_semantics_fixed_and_recorded_durations():
    table = table_from_curves([[3, 2], [5, 4], [1, 0.5]])
    r = simulate(CoreBase(2), table, PairedRows(table, 0, 3), max_epochs=2, n_trials=3, workers=2)
    # two workers train two trials (t = 0..2), the third runs t = 2..4
    assert (r.epochs, r.sim_time) == (6, 4.0)
    assert [x[0] for x in r.log] == [1.0, 1.0, 2.0, 2.0, 3.0, 4.0]
    assert r.chosen_row == 2 and r.regret == 0.0
    import numpy as np

    secs = np.array([[1.0, 1.0], [0.5, 0.5], [2.0, 3.0]])
    r2 = simulate(CoreBase(2), table, PairedRows(table, 0, 3), max_epochs=2, n_trials=3, workers=2,
                  duration=recorded_duration(secs))
    a, b, c = paired_rows(3, 3, 0)
    ta, tb = secs[a].sum(), secs[b].sum()
    assert r2.sim_time == pytest.approx(max(ta, tb, min(ta, tb) + secs[c].sum()))


def test_epoch_cap_and_anytime_curve():
    full = run("asha", 2)
    capped = run("asha", 2, cap=full.epochs // 2)
    assert capped.epochs == full.epochs // 2
    assert capped.log == full.log[:capped.epochs]
    regrets = [g for _, g in full.anytime]  # R = the table's last epoch: incumbents only improve
    assert all(x > y for x, y in zip(regrets, regrets[1:]))
    assert full.anytime[-1][1] == pytest.approx(full.regret)
    assert [e for e, _ in full.anytime] == sorted(e for e, _ in full.anytime)
