"""Issue 13's goals for ``predictive``, computed from the benchmark's runs (never typed in by hand).

Peers are every other method in the runs except the ``predictive-*`` variants (ablations of the
same core).  Each goal is reported with its figure, the bar and whether it is met:

1. the lowest mean normalised regret (over tables) at 0.25×, 0.5× and 1× Hyperband's budget;
2. at 0.5×, at most half the best peer's;
3. per table, the epochs ``predictive``'s mean anytime regret needs to reach the best peer's
   final mean regret, as a share of that peer's mean epochs; the mean share over tables <= 0.5
   (a table it never reaches counts as the share 1.25 / (peer epochs / cap));
4. at no budget on any table worse than Ray's ASHA by more than 0.05;
5. on the MLPF table, regret <= 0.01 within 600 epochs in >= 90 % of the seeds (50 wanted).

Where a goal compares two methods at a budget, the table also gives the paired difference with its
standard error over seeds (seeds are paired across methods): for the means over tables, each seed's
difference is first averaged over the tables.  A difference within about two standard errors of the
bar is one the seeds cannot separate, whether "met" says yes or no.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hpo.schedulers.brackets import hyperband_epochs

from .methods import LABELS
from .protocol_report import FRACTIONS, filled, per_run, table_scale

MAIN = "predictive"


def _filled(sim: pd.DataFrame, curves: pd.DataFrame, table: str, method: str, budgets: np.ndarray) -> np.ndarray:
    """(seeds x budgets) normalised regret, a run without an answer counted as a median configuration."""
    return filled(per_run(sim, curves, table, method, budgets, table_scale(table)[1]))


def paired(diff: np.ndarray) -> str:
    """``mean ± s.e.`` of per-seed differences."""
    sem = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return f"{diff.mean():+.3f} ± {sem:.3f}"


def _seed_means(sim: pd.DataFrame, curves: pd.DataFrame, method: str, fraction: float) -> np.ndarray | None:
    """Per seed, the mean over tables of ``method``'s regret at ``fraction`` × HB (None when the
    method's tables or seeds differ from ``predictive``'s, so no pairing exists)."""
    rows = []
    for table in sim["table"].unique():
        d = sim[sim["table"] == table]
        if MAIN not in set(d["method"]):
            continue
        if method not in set(d["method"]) or \
                sorted(d[d.method == method]["seed"]) != sorted(d[d.method == MAIN]["seed"]):
            return None
        b = np.array([int(round(fraction * hyperband_epochs(int(d["max_epochs"].iloc[0]), 2)))])
        rows.append(_filled(sim, curves, table, method, b)[:, 0])
    return np.mean(rows, axis=0) if rows else None


def goal_lines(sim: pd.DataFrame, curves: pd.DataFrame, overall: dict[str, list[list[float]]]) -> list[str]:
    fractions = FRACTIONS
    if MAIN not in overall:
        return []
    peers = [m for m in overall if not m.startswith(MAIN)]
    if not peers:
        return []
    L = ["## Goals of issue 13 for `predictive` (computed from these runs)", "",
         f"Peers in these runs: {', '.join(LABELS[m] for m in peers)}; tables: {sim['table'].nunique()}.", "",
         "| goal | `predictive` | bar | met | paired difference (mean ± s.e. over seeds) |", "|---|---|---|---|---|"]
    means = {m: [float(np.mean(overall[m][j])) for j in range(len(fractions))] for m in overall}
    for j, f in enumerate(fractions):
        best = min(peers, key=lambda m: means[m][j])
        ok = means[MAIN][j] < means[best][j]
        ours, theirs = _seed_means(sim, curves, MAIN, f), _seed_means(sim, curves, best, f)
        diff = f"{paired(ours - theirs)} (minus the peer)" if theirs is not None else "not paired"
        L.append(f"| lowest mean @ {f:g}× HB | {means[MAIN][j]:.3f} | best peer {LABELS[best]}: "
                 f"{means[best][j]:.3f} | {'yes' if ok else 'no'} | {diff} |")
    j = list(fractions).index(0.5)
    best = min(peers, key=lambda m: means[m][j])
    ours, theirs = _seed_means(sim, curves, MAIN, 0.5), _seed_means(sim, curves, best, 0.5)
    diff = f"{paired(ours - theirs / 2)} (minus half the peer's)" if theirs is not None else "not paired"
    L.append(f"| @ 0.5× HB at most half the best peer's | {means[MAIN][j]:.3f} | <= {means[best][j] / 2:.3f} "
             f"({LABELS[best]}) | {'yes' if means[MAIN][j] <= means[best][j] / 2 else 'no'} | {diff} |")
    shares, worst = [], (-np.inf, "", 0.0, "")
    for table in sim["table"].unique():
        d = sim[sim["table"] == table]
        if MAIN not in set(d["method"]):
            continue
        R = int(d["max_epochs"].iloc[0])
        cap = int(1.25 * hyperband_epochs(R, 2))
        grid = np.arange(1, cap + 1)
        _, scale = table_scale(table)
        ours = filled(per_run(sim, curves, table, MAIN, grid, scale)).mean(axis=0)
        finals = {}
        for m in peers:
            r = d[d.method == m]["regret"].to_numpy(dtype=float) / scale
            if len(r):  # a run without an answer counts as a median configuration (1)
                finals[m] = float(np.where(np.isfinite(r), r, 1.0).mean())
        bp = min(finals, key=finals.get)
        peer_epochs = float(d[d.method == bp]["epochs"].mean())
        hit = np.nonzero(ours <= finals[bp] + 1e-12)[0]
        shares.append((grid[hit[0]] if len(hit) else 1.25 * cap) / peer_epochs)
        if "ray-asha" in set(d["method"]):
            budgets = np.array([int(round(f * hyperband_epochs(R, 2))) for f in fractions])
            ray = _filled(sim, curves, table, "ray-asha", budgets)
            mine = _filled(sim, curves, table, MAIN, budgets)
            excess = mine.mean(axis=0) - ray.mean(axis=0)
            k = int(np.argmax(excess))
            if excess[k] > worst[0]:
                same = sorted(d[d.method == "ray-asha"]["seed"]) == sorted(d[d.method == MAIN]["seed"])
                diff = f"{paired(mine[:, k] - ray[:, k])} (minus Ray's ASHA)" if same else "not paired"
                worst = (float(excess[k]), str(table).rsplit("/", 1)[-1], fractions[k], diff)
    if shares:
        s = float(np.mean(shares))
        L.append(f"| epochs to reach the best peer's final regret, share of its epochs (mean over tables) | "
                 f"{s:.2f} | <= 0.50 | {'yes' if s <= 0.5 else 'no'} | |")
    if np.isfinite(worst[0]):
        L.append(f"| worst excess over Ray's ASHA at a budget on a table | {worst[0]:+.3f} ({worst[1]} @ "
                 f"{worst[2]:g}× HB) | <= 0.05 | {'yes' if worst[0] <= 0.05 else 'no'} | {worst[3]} |")
    mlpf = [t for t in sim["table"].unique() if str(t).endswith("mlpf_delphes.csv") or str(t) == "mlpf_delphes"]
    for table in mlpf:
        _, scale = table_scale(table)
        v = per_run(sim, curves, table, MAIN, np.array([600]), scale)[:, 0]
        ok = np.where(np.isnan(v), np.inf, v) <= 0.01
        share = float(ok.mean()) if len(ok) else float("nan")
        L.append(f"| MLPF: regret <= 0.01 within 600 epochs | {ok.sum()} of {len(ok)} seeds ({share:.0%}) | "
                 f">= 90 % of 50 seeds | {'yes' if share >= 0.9 and len(ok) >= 50 else 'no'} | |")
    return L + [""]
