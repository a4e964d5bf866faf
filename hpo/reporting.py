"""Results report: a table of the best trials and PNG plots of one results directory.

``make_report(RESULTS_DIR)`` (CLI: ``python -m hpo report RESULTS_DIR``) reads ``curves.parquet``
and, when present, ``trials.parquet``, ``experiment.yaml`` and ``predictions.parquet`` (the Swift
predictor decisions), and writes into ``RESULTS_DIR/report/``:

* ``curves.png``: learning curves coloured by outcome (completed, stopped at a rung, stopped by
  the predictor, other stops, failed, still running);
* ``best_vs_epochs.png``: best metric so far against epochs consumed by the whole experiment;
* ``predicted_vs_true.png``: Swift predictions against the true loss at the rung (García Amboage
  et al., EPJ Web Conf. 295, 12005 (2024)), for the continued trials; stopped ones as a rug;
* ``importance.png``: |Spearman ρ| (numeric) or correlation ratio η (categorical) between each
  hyperparameter and the metric at a common epoch, with a chance level; needs 10 trials
  (``hpo.plots_hparams``);
* ``parallel.png``: parallel coordinates of the hyperparameters and the metric, with a colour bar.

A plot with nothing to show is not written (a note says why).  The printed summary adds the physics
of the best trial beside its rule-based reference when the trainable reports them (MLPF jet/MET
response, UCluster clustering accuracy; ``hpo.physics_report``).

It works on a live run: ``curves.parquet`` is flushed every 20 s; without ``trials.parquet`` the
trial table is derived from the curves, and hyperparameters from Tune's per-trial ``result.json``.
Plots go through Matplotlib's Agg canvas (no display) and are replaced atomically.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .errors import ConfigError
from .protocols import Objective

OUTCOMES = {  # plot group (``plot_group``) -> colour
    "completed": "tab:green", "stopped at a rung": "tab:orange", "stopped by the predictor": "tab:red",
    "other stop": "tab:gray", "failed": "black", "running": "tab:blue"}
_NOT_HPS = {"trial_id", "epochs", "stop_reason", "outcome", "stop_rung"}


@dataclass
class Report:
    results_dir: Path
    out_dir: Path
    live: bool
    metric: str
    mode: str
    table: pd.DataFrame
    plots: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)  # what each plot drew (for checks)
    notes: list[str] = field(default_factory=list)  # plots skipped and why, guesses made
    physics: list[str] = field(default_factory=list)  # hpo.physics_report lines (MLPF, UCluster)

    def text(self) -> str:
        with pd.option_context("display.width", 160, "display.max_columns", 30):
            lines = [f"{'LIVE ' if self.live else ''}results {self.results_dir}: {self.counts.get('trials', 0)} "
                     f"trials, {self.counts.get('epochs', 0)} epochs; best trials by {self.metric} ({self.mode}):",
                     self.table.to_string(index=False) if not self.table.empty else "(no trials yet)"]
        lines += self.physics
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"plot: {p}" for p in self.plots.values()]
        return "\n".join(lines)


def plot_group(outcome: str) -> str:
    """The colour group of an ``Outcome`` value in the plots (``running`` for a live trial)."""
    if outcome in ("completed", "running"):
        return outcome
    if outcome in ("stopped_rung", "not_promoted"):
        return "stopped at a rung"
    if outcome == "stopped_predictor":
        return "stopped by the predictor"
    return "failed" if outcome == "failed" else "other stop"


def _read_config(d: Path) -> dict[str, Any]:
    f = d / "experiment.yaml"
    return (yaml.safe_load(f.read_text()) or {}) if f.exists() else {}


def _live_configs(d: Path) -> dict[str, dict[str, Any]]:
    """Hyperparameters of each trial from Tune's per-trial ``result.json`` (first line)."""
    out = {}
    for f in d.glob("*/result.json"):
        try:
            with f.open() as fh:
                first = json.loads(fh.readline())
            out[first["trial_id"]] = dict(first.get("config") or {})
        except (OSError, ValueError, KeyError):
            continue  # a trial that has not reported yet
    return out


def _metric_and_mode(cfg: dict, d: Path, curves: pd.DataFrame, notes: list[str], metric, mode):
    if metric is None:
        metric = cfg.get("metric")
    if metric is None and (d / "best.json").exists():
        metric = (json.loads((d / "best.json").read_text()) or {}).get("metric")
    if metric is None:
        known = [c for c in ("val_loss", "loss") if c in curves.columns]
        if not known:
            raise ConfigError("no experiment.yaml to name the metric; pass --metric", "metric", str(d))
        metric = known[0]
        notes.append(f"metric {metric!r} guessed from curves.parquet (no experiment.yaml yet)")
    if metric not in curves.columns:
        raise ConfigError(f"metric {metric!r} is not in curves.parquet (columns: {list(curves.columns)})",
                          "metric", str(d))
    if mode is None:
        mode = cfg.get("mode")
        if mode is None:
            mode = "min"
            notes.append("mode 'min' assumed (no experiment.yaml yet)")
    return metric, mode


def _trials_from_curves(curves: pd.DataFrame, metric: str, max_epochs: int | None,
                        configs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for tid, c in curves.groupby("trial_id", sort=True):
        c = c.drop_duplicates("epoch", keep="last").sort_values("epoch")
        epochs = int(c["epoch"].max())
        done = max_epochs is not None and epochs >= max_epochs
        rows.append({"trial_id": tid, **configs.get(tid, {}), metric: float(c[metric].iloc[-1]), "epochs": epochs,
                     "outcome": "completed" if done else "running",
                     "stop_reason": "completed" if done else "live"})
    return pd.DataFrame(rows)


def make_report(results_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                metric: str | None = None, mode: str | None = None, top: int = 10,
                verbose: bool = False) -> Report:
    """Table of the ``top`` best trials and the PNG plots of ``results_dir`` (finished or live)."""
    d = Path(results_dir)
    if not (d / "curves.parquet").exists():
        raise ConfigError("no curves.parquet here (not an hpo results directory, or no epoch reported "
                          "yet; it is flushed every 20 s)", None, str(d))
    curves = pd.read_parquet(d / "curves.parquet")
    cfg, notes = _read_config(d), []
    metric, mode = _metric_and_mode(cfg, d, curves, notes, metric, mode)
    max_epochs = (cfg.get("budget") or {}).get("max_epochs")
    live = not (d / "trials.parquet").exists()
    if live:
        configs = _live_configs(d)
        trials = _trials_from_curves(curves, metric, max_epochs, configs)
        hps = sorted({k for c in configs.values() for k in c if k in trials.columns})
    else:
        trials = pd.read_parquet(d / "trials.parquet")
        hps = [k for k in (cfg.get("hyperparameters") or {}) if k in trials.columns] or \
            [c for c in trials.columns if c not in _NOT_HPS | {metric}]
    out = Path(out_dir) if out_dir is not None else d / "report"
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(d, out, live, metric, mode, _best_table(trials, metric, mode, hps, top), notes=notes)
    rep.counts.update(trials=len(trials), epochs=len(curves))
    from .physics_report import physics_lines, physics_summary

    rep.counts["physics"] = physics_summary(curves, metric, mode)
    rep.physics = physics_lines(rep.counts["physics"])
    from . import plots

    plots.curves_plot(rep, curves, trials)
    plots.best_vs_epochs_plot(rep, curves, len(trials), max_epochs)
    pred = d / "predictions.parquet"
    if pred.exists():
        plots.predicted_vs_true_plot(rep, pd.read_parquet(pred), curves)
    else:
        notes.append("no predictions.parquet (not a Swift run, or the run is still live): "
                     "predicted-vs-true plot skipped")
    if hps and not trials.empty:
        plots.importance_plot(rep, curves, trials, hps)
        plots.parallel_plot(rep, trials, hps)
    else:
        notes.append("no hyperparameters known yet: importance and parallel-coordinates plots skipped")
    if verbose:
        print(rep.text(), flush=True)
    return rep


def _best_table(trials: pd.DataFrame, metric: str, mode: str, hps: list[str], top: int) -> pd.DataFrame:
    if trials.empty:
        return trials
    ok = trials[trials[metric].map(lambda v: v is not None and math.isfinite(float(v)))]
    cols = ["trial_id", metric, "epochs", "outcome", "stop_reason"] + [h for h in hps if h in trials.columns]
    by_loss = ok.sort_values(metric, key=lambda v: v.map(Objective(metric, mode).loss))
    return by_loss[cols].head(top).reset_index(drop=True)


def predictions_frame(decisions: list[dict[str, Any]], mode: str = "min") -> pd.DataFrame:
    """A scheduler's predictor decisions (``Diagnostics.decision_log``; rank-rule decisions are left
    out) as the ``predictions.parquet`` table, in the metric's own units (cores minimise, so
    predictions and thresholds are turned back for mode=max).  ``target`` is the epoch predicted
    (Swift: the round's rung; predictive: its horizon); ``bracket``/``threshold`` are Swift's,
    ``sigma``/``p``/``reference`` the predictive scheduler's (NaN where a scheduler has none)."""
    cols = ["trial_id", "bracket", "rung", "epoch", "target", "predicted", "threshold", "sigma", "reference", "p",
            "continued"]
    rows = [{**d, "target": d.get("target", d.get("rung"))} for d in decisions if d.get("predicted") is not None]
    df = pd.DataFrame([{k: r.get(k) for k in cols} for r in rows], columns=cols)
    df = df.astype({"trial_id": str, "bracket": "Int64", "rung": int, "epoch": int, "target": int, "predicted": float,
                    "threshold": float, "sigma": float, "reference": float, "p": float, "continued": bool})
    sign = Objective("loss", mode).sign  # back from the core's loss
    df[["predicted", "threshold", "reference"]] *= sign
    return df


def write_predictions(results_dir: str | os.PathLike, decisions: list[dict[str, Any]], mode: str = "min") -> Path:
    """Write ``predictions.parquet``: a scheduler's predictor decisions (``Diagnostics.decision_log``)."""
    path = Path(results_dir) / "predictions.parquet"
    predictions_frame(decisions, mode).to_parquet(path, index=False)
    return path
