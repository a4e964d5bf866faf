"""Physics of the chosen trial, beside its rule-based reference, from ``curves.parquet``.

The trainables report physics metrics with the loss (stored per epoch in ``curves.parquet``):

* MLPF (on its last epoch, validation events; ``trainables/mlpf/physics.py``): jet pT response median
  and IQR, matched-jet fraction, MET response median and IQR, IQR of MET_reco - MET_target, particle
  class accuracy -- and the same for the rule-based particle flow (``trainables/mlpf/baseline.py``,
  keys ``baseline_*``) on the same events.  A perfect reconstruction has response 1 and IQR 0.
* UCluster (every epoch): Hungarian-matched clustering accuracy ``cluster_acc`` (and ``test_*`` on
  an independent sample), beside k-means on the jet mass alone (``baseline_cluster_acc``).

``physics_summary`` picks the best trial (by the experiment's metric) among the trials whose last
epoch carries physics metrics; ``physics_lines`` formats it for the report and the console.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

# (label, key, reference key or None, format)
MLPF_ROWS = (
    ("jet pT response, median", "jet_response_median", "baseline_jet_response_median", "{:.3f}"),
    ("jet pT resolution (IQR of response)", "jet_response_iqr", "baseline_jet_response_iqr", "{:.3f}"),
    ("target jets matched (dR < 0.1)", "jet_match_fraction", "baseline_jet_match_fraction", "{:.3f}"),
    ("MET response, median", "met_response_median", "baseline_met_response_median", "{:.3f}"),
    ("MET resolution (IQR of response)", "met_response_iqr", "baseline_met_response_iqr", "{:.3f}"),
    ("IQR of MET_reco - MET_target (GeV)", "met_delta_iqr", "baseline_met_delta_iqr", "{:.2f}"),
    ("particle class accuracy (per element)", "cls_accuracy", None, "{:.3f}"),
)
UCLUSTER_ROWS = (
    ("clustering accuracy, validation jets", "cluster_acc", "baseline_cluster_acc", "{:.3f}"),
    ("clustering accuracy, test jets", "test_cluster_acc", "test_baseline_cluster_acc", "{:.3f}"),
)
KINDS = {"MLPF": (MLPF_ROWS, "rule-based PF"), "UCluster": (UCLUSTER_ROWS, "mass k-means")}


def _kind(columns) -> str | None:
    if "jet_response_median" in columns:
        return "MLPF"
    if "cluster_acc" in columns:
        return "UCluster"
    return None


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def physics_summary(curves: pd.DataFrame, metric: str, mode: str) -> dict[str, Any] | None:
    """{kind, trial_id, epoch, metric value, rows: [(label, value, reference)], n_trials} or None
    when the curves carry no physics metrics (e.g. the replay trainable, or no trial finished yet)."""
    kind = _kind(curves.columns)
    if kind is None or curves.empty or metric not in curves.columns:
        return None
    rows, ref_label = KINDS[kind]
    key = rows[0][1]
    last = curves.sort_values("epoch").drop_duplicates("trial_id", keep="last")
    last = last[last[key].map(_finite) & last[metric].map(_finite)]
    if last.empty:
        return None
    best = last.sort_values(metric, ascending=mode == "min").iloc[0]
    out_rows = []
    for label, k, ref, fmt in rows:
        if k not in best.index or not _finite(best[k]):
            continue
        ref_v = float(best[ref]) if ref and ref in best.index and _finite(best[ref]) else None
        out_rows.append((label, fmt.format(float(best[k])), fmt.format(ref_v) if ref_v is not None else "-"))
    return {"kind": kind, "reference": ref_label, "trial_id": str(best["trial_id"]), "epoch": int(best["epoch"]),
            "metric": metric, "value": float(best[metric]), "rows": out_rows, "n_trials": len(last)}


def physics_lines(summary: dict[str, Any] | None) -> list[str]:
    """The summary as aligned text lines (empty when there is nothing to show)."""
    if not summary:
        return []
    head = (f"physics of the best trial with physics metrics: {summary['trial_id']} (epoch {summary['epoch']}, "
            f"{summary['metric']} {summary['value']:.4g}; {summary['n_trials']} trial(s) have them)")
    w = max(len(r[0]) for r in summary["rows"]) + 2
    lines = [head, f"  {'':{w}}{summary['kind']:>10}  {summary['reference']:>14}"]
    lines += [f"  {label:{w}}{v:>10}  {ref:>14}" for label, v, ref in summary["rows"]]
    return lines
