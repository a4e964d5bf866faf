"""Results report and plots: synthetic finished and live results directories, the CLI, the
``hpo.report`` name trap, and a real Swift-Hyperband run through ``hpo.tune``.  Plots a physicist can
trust: importance only with enough trials, readable parallel coordinates, log epochs for long runs,
no empty plots, physics metrics beside their rule-based reference."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

import hpo
from conftest import PY, ROOT
from hpo.errors import ConfigError
from hpo.reporting import make_report, predictions_frame, write_predictions

MAX_EPOCHS = 8
# trial -> (lr, width, epochs, outcome, stop_reason); the final loss grows with lr (importance 1)
TRIALS = {
    "t0": (1e-4, 32, 8, "completed", "completed"),
    "t1": (3e-4, 64, 8, "completed", "completed"),
    "t2": (1e-3, 32, 8, "completed", "completed"),
    "t3": (3e-3, 64, 2, "stopped_rung", "stopped at a rung, rung 2"),
    "t4": (1e-2, 32, 2, "stopped_rung", "stopped at a rung, rung 2"),
    "t5": (2e-2, 64, 4, "stopped_predictor", "stopped by the predictor, rung 8, epoch 4"),
    "t6": (5e-2, 32, 3, "stopped_predictor", "stopped by the predictor, rung 4, epoch 3"),
    "t7": (1.5e-3, 64, 8, "completed", "completed"),
    "t8": (2e-3, 32, 8, "completed", "completed"),
    "t9": (4e-3, 64, 8, "completed", "completed"),
    "t10": (6e-3, 32, 8, "completed", "completed"),
    "t11": (8e-3, 64, 8, "completed", "completed"),
}
N_DONE = 8  # trials that reached MAX_EPOCHS; epoch 3 is the latest one that 10 trials reached


def _curve(lr, n):
    base = 0.2 + 10 * lr
    return [base + 1.0 / e for e in range(1, n + 1)]


def _curves() -> pd.DataFrame:
    rows = []
    for e in range(1, MAX_EPOCHS + 1):  # arrival order: epoch by epoch, round robin
        for tid, (lr, _, n, _, _) in TRIALS.items():
            if e <= n:
                rows.append({"trial_id": tid, "epoch": e, "loss": _curve(lr, n)[e - 1], "reported_epoch": float(e)})
    return pd.DataFrame(rows)


def _finished_dir(tmp_path, keep=None):
    d = tmp_path / "done"
    d.mkdir()
    curves = _curves()
    if keep is not None:
        curves = curves[curves["trial_id"].isin(keep)]
    curves.to_parquet(d / "curves.parquet", index=False)
    trials = pd.DataFrame([{"trial_id": t, "lr": lr, "width": w, "loss": _curve(lr, n)[-1], "epochs": n,
                            "outcome": st, "stop_reason": why} for t, (lr, w, n, st, why) in TRIALS.items()
                           if keep is None or t in keep])
    trials.to_parquet(d / "trials.parquet", index=False)
    (d / "experiment.yaml").write_text(yaml.safe_dump({
        "name": "done", "metric": "loss", "mode": "min", "budget": {"max_epochs": MAX_EPOCHS},
        "hyperparameters": {"lr": {"type": "loguniform", "low": 1e-4, "high": 0.1},
                            "width": {"type": "choice", "values": [32, 64]}}}))
    decisions = [  # t2, t5, t6 judged at epoch 3 for rung 4: t2 and t5 continued, t6 stopped
        {"trial_id": "t2", "bracket": 1, "rung": 4, "epoch": 3, "predicted": 1.0, "threshold": 1.2, "continued": True},
        {"trial_id": "t5", "bracket": 1, "rung": 4, "epoch": 3, "predicted": 0.9, "threshold": 1.2, "continued": True},
        {"trial_id": "t6", "bracket": 1, "rung": 4, "epoch": 3, "predicted": 1.6, "threshold": 1.2, "continued": False},
    ]
    write_predictions(d, decisions)
    return d, curves, decisions


def _png(path):
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    return img, len(np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0))


def _has_colour(img, rgb, tol=12):
    px = (img[..., :3] * 255).astype(int)
    return bool((np.abs(px - np.array(rgb)).max(axis=-1) <= tol).sum() > 20)


def test_report_of_a_finished_run(tmp_path, capsys):
    d, curves, decisions = _finished_dir(tmp_path)
    rep = make_report(d, verbose=True)
    assert not rep.live and rep.out_dir == d / "report"
    assert set(rep.plots) == {"curves", "best_vs_epochs", "predicted_vs_true", "importance", "parallel"}
    assert rep.counts["curves"] == {"completed": N_DONE, "stopped at a rung": 2, "stopped by the predictor": 2}
    assert rep.counts["best_points"] == len(curves)
    # t2 and t5 reached rung 4 (true values known); t6 was stopped at epoch 3 (rug only)
    assert rep.counts["predictions"] == {"with_truth": 2, "without_truth": 1}
    # the loss at epoch 3 (10 trials reached it) rises with lr: |rho| = 1, well above chance
    assert rep.counts["importance_epoch"] == 3
    assert rep.counts["importance"]["lr"] == pytest.approx(1.0)
    assert rep.counts["importance"]["lr"] > rep.counts["importance_noise"]["lr"] > 0.3
    assert rep.counts["parallel_lines"] == len(TRIALS)
    assert list(rep.table["trial_id"][:3]) == ["t0", "t1", "t2"]
    assert rep.table["loss"].is_monotonic_increasing
    out = capsys.readouterr().out
    assert "t0" in out and "curves.png" in out
    for name, path in rep.plots.items():
        img, colours = _png(path)
        assert img.shape[0] > 300 and img.shape[1] > 400, name
        assert colours > 30, f"{name}.png looks empty ({colours} colours)"
    img, _ = _png(rep.plots["curves"])
    for rgb in ((44, 160, 44), (255, 127, 14), (214, 39, 40)):  # tab:green, tab:orange, tab:red
        assert _has_colour(img, rgb), rgb
    assert not list(rep.out_dir.glob(".*.tmp.png"))


def test_report_of_a_live_run_from_curves_only(tmp_path):
    d = tmp_path / "live"
    d.mkdir()
    curves = _curves()
    curves = curves[curves["epoch"] <= 3]
    curves.to_parquet(d / "curves.parquet", index=False)
    rep = make_report(d)
    assert rep.live and rep.metric == "loss" and rep.mode == "min"
    assert any("guessed" in n for n in rep.notes) and any("predictions" in n for n in rep.notes)
    assert set(rep.plots) == {"curves", "best_vs_epochs"}
    assert rep.counts["curves"] == {"running": len(TRIALS)}
    assert rep.counts["best_points"] == len(curves)
    # Tune's per-trial result.json gives the live hyperparameters (and experiment.yaml the budget)
    for tid, (lr, w, *_rest) in TRIALS.items():
        (d / f"hpo_trial_{tid}").mkdir()
        first_result = {"trial_id": tid, "config": {"lr": lr, "width": w}}
        (d / f"hpo_trial_{tid}" / "result.json").write_text(json.dumps(first_result) + "\n")
    (d / "experiment.yaml").write_text(yaml.safe_dump({"metric": "loss", "mode": "min", "budget": {"max_epochs": 3}}))
    rep = make_report(d, tmp_path / "elsewhere")
    assert rep.out_dir == tmp_path / "elsewhere" and rep.plots["parallel"].parent == rep.out_dir
    assert rep.counts["curves"] == {"completed": len(TRIALS) - 2, "running": 2}  # t3 and t4 have only 2 epochs
    assert rep.counts["parallel_lines"] == len(TRIALS) and set(rep.counts["importance"]) == {"lr", "width"}
    assert list(rep.table.columns[-2:]) == ["lr", "width"]


def test_mode_max_shows_predictions_in_metric_units(tmp_path):
    d = tmp_path / "acc"
    d.mkdir()
    pd.DataFrame({"trial_id": ["a", "a", "b", "b"], "epoch": [1, 2, 1, 2], "acc": [0.5, 0.7, 0.4, 0.6]}) \
        .to_parquet(d / "curves.parquet", index=False)
    (d / "experiment.yaml").write_text("metric: acc\nmode: max\n")
    frame = predictions_frame([{"trial_id": "a", "bracket": 0, "rung": 2, "epoch": 1, "predicted": -0.7,
                                "threshold": -0.6, "continued": True},
                               {"trial_id": "b", "bracket": 0, "rung": 2, "epoch": 1, "predicted": -0.55,
                                "threshold": -0.6, "continued": True}], mode="max")
    assert frame["predicted"].tolist() == [0.7, 0.55] and frame["threshold"].tolist() == [0.6, 0.6]
    frame.to_parquet(d / "predictions.parquet")
    rep = make_report(d)
    assert rep.counts["predictions"] == {"with_truth": 2, "without_truth": 0}
    assert list(rep.table["trial_id"]) == ["a", "b"]


def test_not_a_results_dir_is_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="no curves.parquet"):
        make_report(tmp_path)
    proc = subprocess.run([PY, "-m", "hpo", "report", str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no curves.parquet" in proc.stderr


def test_cli_and_the_report_name_trap(tmp_path):
    d, _, _ = _finished_dir(tmp_path)
    proc = subprocess.run([PY, "-m", "hpo", "report", str(d), "--top", "2", "--out", str(tmp_path / "png")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "t0" in proc.stdout and "t1" in proc.stdout and "t6 " not in proc.stdout
    assert sorted(p.name for p in (tmp_path / "png").glob("*.png")) == sorted(
        ["curves.png", "best_vs_epochs.png", "predicted_vs_true.png", "importance.png", "parallel.png"])
    # using the library leaves hpo.report the per-epoch function
    import hpo.reporting  # noqa: F401

    assert callable(hpo.report) and hpo.report.__module__ == "hpo.session" and hpo.reporting.make_report
    code = ("import hpo, hpo.reporting, sys; hpo.reporting.make_report(sys.argv[1]); "
            "assert callable(hpo.report) and hpo.report.__module__ == 'hpo.session'; print('OK')")
    proc = subprocess.run([PY, "-c", code, str(d)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "OK", proc.stderr[-2000:]


@pytest.mark.ray
def test_report_of_a_real_swift_run(ray_cluster, tmp_path, mlpf_table):
    from hpo import schedulers
    from hpo.protocols import Objective
    from hpo.ray.scheduler import build_ray_scheduler
    from predictors import build_predictor

    opts = {"eta": 2, "d": 4}
    sched = build_ray_scheduler("swift", objective=Objective("loss", "min"), options=opts, max_epochs=8, seed=4,
                                predictor_factory=lambda: build_predictor("svr", {}, seed=4))
    res = hpo.tune("replay", space={"row": hpo.randint(0, 295)}, metric="loss", mode="min", seed=4,
                   storage=str(tmp_path), name="swift", trainable_args={"table": str(mlpf_table)}, verbose=False,
                   max_epochs=8, scheduler=sched, num_samples=schedulers.planned_num_samples("swift", opts, 8))
    d = tmp_path / "swift"
    if not (d / "predictions.parquet").exists():  # until the service writes it at the end of a run
        write_predictions(d, sched.core.decision_log())
    assert len(pd.read_parquet(d / "predictions.parquet")) == len(sched.core.decisions) > 0
    rep = make_report(d)
    assert set(rep.plots) == {"curves", "best_vs_epochs", "predicted_vs_true", "importance", "parallel"}
    trials = res.trials
    n_pred = int((trials["outcome"] == "stopped_predictor").sum())
    assert n_pred >= 1
    assert rep.counts["curves"]["stopped by the predictor"] == n_pred
    assert sum(rep.counts["curves"].values()) == len(trials)
    assert rep.counts["curves"].get("completed", 0) == int((trials["outcome"] == "completed").sum())
    assert rep.counts["best_points"] == len(res.curves)
    reached = {(t, e) for t, e in zip(res.curves["trial_id"], res.curves["epoch"])}
    with_truth = sum((d_["trial_id"], d_["rung"]) in reached for d_ in sched.core.decisions)
    assert rep.counts["predictions"]["with_truth"] == with_truth
    assert rep.counts["predictions"]["without_truth"] == len(sched.core.decisions) - with_truth
    assert rep.table["loss"].iloc[0] == pytest.approx(trials["loss"].min())


def test_importance_needs_enough_trials_and_says_why(tmp_path):
    d, _, _ = _finished_dir(tmp_path, keep=[f"t{i}" for i in range(7)])
    rep = make_report(d)
    assert "importance" not in rep.plots and not (rep.out_dir / "importance.png").exists()
    note = next(n for n in rep.notes if n.startswith("importance plot skipped"))
    assert "needs 10 trials" in note and "the most at any epoch is 7" in note
    assert "parallel" in rep.plots  # all 7 trials still have their line


def test_no_predictor_decisions_means_no_empty_plot(tmp_path):
    d, _, _ = _finished_dir(tmp_path)
    predictions_frame([]).to_parquet(d / "predictions.parquet", index=False)
    rep = make_report(d)
    assert "predicted_vs_true" not in rep.plots and not (rep.out_dir / "predicted_vs_true.png").exists()
    assert any("predictor made no decisions" in n for n in rep.notes)


def test_weak_predictor_is_said_in_the_printed_summary(tmp_path):
    d, _, _ = _finished_dir(tmp_path)
    rep = make_report(d)
    note = next(n for n in rep.notes if n.startswith("predictor:"))
    assert "3 decisions, 2 with a true value" in note and "R² " in note and "weak" in note
    assert rep.counts["predictions_r2"] < 0.5 and note in rep.text()


def test_long_runs_get_a_log_epoch_axis(tmp_path):
    d, _, _ = _finished_dir(tmp_path)
    short = make_report(d)
    assert not short.counts["curves_log_x"] and not short.counts["best_log_x"]  # 8 epochs, 70 consumed
    long_dir = tmp_path / "long"
    long_dir.mkdir()
    rows = [{"trial_id": f"t{i}", "epoch": e, "loss": 1 + i / 10 + 1 / e} for e in range(1, 61) for i in range(4)]
    pd.DataFrame(rows).to_parquet(long_dir / "curves.parquet", index=False)
    (long_dir / "experiment.yaml").write_text("metric: loss\nmode: min\nbudget: {max_epochs: 60}\n")
    rep = make_report(long_dir)
    assert rep.counts["curves_log_x"] and rep.counts["best_log_x"]  # 60 epochs, 240 consumed


def test_parallel_plot_is_readable(tmp_path):
    d = tmp_path / "wide"
    d.mkdir()
    rng = np.random.default_rng(0)
    hps = {f"numeric_hyperparameter_{k}": rng.uniform(0, 1, 24) for k in range(8)}
    hps["lr"] = 10 ** rng.uniform(-5, -1, 24)
    hps["activation"] = rng.choice(["elu", "gelu", "relu"], 24)
    loss = 1 + hps["lr"] * 10 + rng.normal(0, 0.01, 24)
    loss[0] = 50.0  # one diverged trial must not squash the colour scale
    trials = pd.DataFrame({"trial_id": [f"t{i}" for i in range(24)], **hps, "loss": loss, "epochs": 5,
                           "outcome": "completed", "stop_reason": "completed"})
    trials.to_parquet(d / "trials.parquet", index=False)
    pd.DataFrame({"trial_id": trials["trial_id"], "epoch": 5, "loss": loss}).to_parquet(d / "curves.parquet")
    (d / "experiment.yaml").write_text(yaml.safe_dump({"metric": "loss", "mode": "min", "budget": {"max_epochs": 5},
                                                       "hyperparameters": {h: {} for h in hps}}))
    rep = make_report(d)
    img, _ = _png(rep.plots["parallel"])
    assert 600 <= img.shape[1] <= 1100, img.shape  # 11 axes: was 1960 px wide
    assert min(rep.counts["min_fontsize"].values()) >= 9
    ticks = rep.counts["parallel_ticks"]
    assert ticks["activation"] == ["elu", "gelu", "relu"]  # every category labelled
    assert ticks["loss"][-1].startswith("≥ ")  # clipped at the 95th percentile, not at the outlier
    assert rep.counts["parallel_colorbar"] == "loss (dark = better)"


PHYSICS = {"jet_response_median": 1.02, "jet_response_iqr": 0.21, "jet_match_fraction": 0.83, "met_response_median": 1.1,
           "met_response_iqr": 0.4, "met_delta_iqr": 3.5, "cls_accuracy": 0.91, "baseline_jet_response_median": 0.99,
           "baseline_jet_response_iqr": 0.07, "baseline_jet_match_fraction": 0.94,
           "baseline_met_response_median": 1.13, "baseline_met_response_iqr": 0.34, "baseline_met_delta_iqr": 2.9}


def test_mlpf_physics_beside_the_rule_based_baseline(tmp_path, capsys):
    d = tmp_path / "mlpf"
    d.mkdir()
    rows = []
    for tid, final, iqr in (("a", 5.0, 0.30), ("b", 4.0, 0.21), ("c", 3.0, None)):  # c: stopped, no physics
        rows += [{"trial_id": tid, "epoch": 1, "val_loss": final + 1}]
        last = {"trial_id": tid, "epoch": 2 if iqr else 1, "val_loss": final}
        if iqr:
            last.update({**PHYSICS, "jet_response_iqr": iqr})
        rows.append(last)
    pd.DataFrame(rows).to_parquet(d / "curves.parquet", index=False)
    (d / "experiment.yaml").write_text("metric: val_loss\nmode: min\nbudget: {max_epochs: 2}\n")
    rep = make_report(d, verbose=True)
    phys = rep.counts["physics"]
    assert phys["kind"] == "MLPF" and phys["trial_id"] == "b" and phys["n_trials"] == 2  # c has none
    rows = {label: (v, ref) for label, v, ref in phys["rows"]}
    assert rows["jet pT resolution (IQR of response)"] == ("0.210", "0.070")
    assert rows["particle class accuracy (per element)"] == ("0.910", "-")
    out = capsys.readouterr().out
    assert "physics of the best trial with physics metrics: b" in out and "rule-based PF" in out
    assert "jet pT response, median" in out and "0.990" in out


def test_ucluster_accuracy_beside_the_mass_baseline_and_none_for_replay(tmp_path):
    d = tmp_path / "uc"
    d.mkdir()
    pd.DataFrame([{"trial_id": "a", "epoch": 3, "cluster_acc": 0.70, "baseline_cluster_acc": 0.65},
                  {"trial_id": "b", "epoch": 3, "cluster_acc": 0.62, "baseline_cluster_acc": 0.65}]) \
        .to_parquet(d / "curves.parquet", index=False)
    (d / "experiment.yaml").write_text("metric: cluster_acc\nmode: max\n")
    rep = make_report(d)
    assert rep.counts["physics"]["trial_id"] == "a" and rep.counts["physics"]["reference"] == "mass k-means"
    assert rep.counts["physics"]["rows"] == [("clustering accuracy, validation jets", "0.700", "0.650")]
    assert any("mass k-means" in line for line in rep.physics) and "0.650" in rep.text()
    replay, _, _ = _finished_dir(tmp_path)
    rep = make_report(replay)
    assert rep.counts["physics"] is None and rep.physics == []
