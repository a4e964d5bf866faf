"""Our schedulers through the service (``hpo.tune``) on the replay trainable: ASHA stops trials at
rungs, Hyperband pauses and resumes them, Swift-Hyperband stops some by its predictor, with the
ν-SVR and the QUBO Q-SVR (simulated annealing) plugged in by name."""
from __future__ import annotations

import pytest

import hpo
from hpo.bench.table import load_table

pytestmark = pytest.mark.ray


def _run(tmp_path, mlpf_table, name, **kw):
    return hpo.tune("replay", space={"row": hpo.randint(0, 295)}, metric="loss", mode="min", seed=4,
                    storage=str(tmp_path), name=name, trainable_args={"table": str(mlpf_table)},
                    verbose=False, **kw)


def _check_curves_match_table(res, mlpf_table):
    table = load_table(str(mlpf_table))
    for t in res.trials.itertuples():
        c = res.curves[res.curves.trial_id == t.trial_id].sort_values("epoch")
        assert list(c["epoch"]) == list(range(1, t.epochs + 1)), "an epoch was repeated or skipped"
        assert c["loss"].tolist() == pytest.approx(table.curves[t.row, :t.epochs].tolist())


def test_asha_stops_trials_at_rungs(ray_cluster, tmp_path, mlpf_table):
    res = _run(tmp_path, mlpf_table, "asha", num_samples=8, max_epochs=8, scheduler="asha", search="random")
    assert len(res.trials) == 8
    stopped = res.trials[res.trials.outcome == "stopped_rung"]
    assert len(stopped) >= 2 and stopped["epochs"].isin([1, 2, 4]).all()
    assert (res.trials[res.trials.outcome == "completed"]["epochs"] == 8).all()
    _check_curves_match_table(res, mlpf_table)


def test_hyperband_pauses_and_resumes_without_repeating_epochs(ray_cluster, tmp_path, mlpf_table):
    from hpo.schedulers.brackets import hyperband_epochs  # exact epoch count of the bracket plan

    res = _run(tmp_path, mlpf_table, "hb", max_epochs=8, scheduler={"name": "hyperband", "eta": 2})
    assert int(res.trials["epochs"].sum()) == hyperband_epochs(8, 2)
    _check_curves_match_table(res, mlpf_table)
    # R=8, eta=2: brackets s=3..0 send 1, 1, 2 and 4 trials to the full 8 epochs
    assert (res.trials["epochs"] == 8).sum() == 8


@pytest.mark.parametrize("predictor", ["svr", "qsvr"])
def test_swift_with_predictor_end_to_end(ray_cluster, tmp_path, mlpf_table, predictor):
    res = _run(tmp_path, mlpf_table, f"swift_{predictor}", max_epochs=8,
               scheduler={"name": "swift", "eta": 2, "d": 4}, predictor=predictor)
    assert (res.trials["outcome"] == "stopped_predictor").any(), res.trials["stop_reason"].tolist()
    _check_curves_match_table(res, mlpf_table)
    from hpo.schedulers.brackets import hyperband_epochs

    assert int(res.trials["epochs"].sum()) < hyperband_epochs(8, 2)


def test_predictive_end_to_end(ray_cluster, tmp_path, mlpf_table):
    opts = {"name": "predictive", "eta": 2, "k": 2, "min_pairs": 3, "min_calib": 1, "min_coverage": 0.0}
    res = _run(tmp_path, mlpf_table, "predictive", num_samples=16, max_epochs=8, scheduler=opts, search="random")
    assert len(res.trials) == 16
    assert set(res.trials.outcome) <= {"not_promoted", "stopped_predictor", "completed"}
    assert (res.trials.outcome != "completed").any()
    assert (res.trials[res.trials.outcome == "completed"]["epochs"] == 8).all()
    _check_curves_match_table(res, mlpf_table)
