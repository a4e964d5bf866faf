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
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hpo.schedulers.brackets import hyperband_epochs

from .methods import LABELS
from .protocol_report import FRACTIONS, NO_ANSWER, per_run, table_scale

MAIN = "predictive"


def _mean_curve(v: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(v), NO_ANSWER, v).mean(axis=0)


def goal_lines(sim: pd.DataFrame, curves: pd.DataFrame, overall: dict[str, list[list[float]]]) -> list[str]:
    fractions = FRACTIONS
    if MAIN not in overall:
        return []
    peers = [m for m in overall if not m.startswith(MAIN)]
    if not peers:
        return []
    L = ["## Goals of issue 13 for `predictive` (computed from these runs)", "",
         f"Peers in these runs: {', '.join(LABELS[m] for m in peers)}; tables: {sim['table'].nunique()}.", "",
         "| goal | `predictive` | bar | met |", "|---|---|---|---|"]
    means = {m: [float(np.mean(overall[m][j])) for j in range(len(fractions))] for m in overall}
    for j, f in enumerate(fractions):
        best = min(peers, key=lambda m: means[m][j])
        ok = means[MAIN][j] < means[best][j]
        L.append(f"| lowest mean @ {f:g}× HB | {means[MAIN][j]:.3f} | best peer {LABELS[best]}: "
                 f"{means[best][j]:.3f} | {'yes' if ok else 'no'} |")
    j = list(fractions).index(0.5)
    best = min(peers, key=lambda m: means[m][j])
    L.append(f"| @ 0.5× HB at most half the best peer's | {means[MAIN][j]:.3f} | <= {means[best][j] / 2:.3f} "
             f"({LABELS[best]}) | {'yes' if means[MAIN][j] <= means[best][j] / 2 else 'no'} |")
    shares, worst = [], (-np.inf, "", 0.0)
    for table in sim["table"].unique():
        d = sim[sim["table"] == table]
        if MAIN not in set(d["method"]):
            continue
        R = int(d["max_epochs"].iloc[0])
        cap = int(1.25 * hyperband_epochs(R, 2))
        grid = np.arange(1, cap + 1)
        _, scale = table_scale(table)
        ours = _mean_curve(per_run(sim, curves, table, MAIN, grid, scale))
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
            ray = _mean_curve(per_run(sim, curves, table, "ray-asha", budgets, scale))
            mine = _mean_curve(per_run(sim, curves, table, MAIN, budgets, scale))
            k = int(np.argmax(mine - ray))
            if mine[k] - ray[k] > worst[0]:
                worst = (float(mine[k] - ray[k]), str(table).rsplit("/", 1)[-1], fractions[k])
    if shares:
        s = float(np.mean(shares))
        L.append(f"| epochs to reach the best peer's final regret, share of its epochs (mean over tables) | "
                 f"{s:.2f} | <= 0.50 | {'yes' if s <= 0.5 else 'no'} |")
    if np.isfinite(worst[0]):
        L.append(f"| worst excess over Ray's ASHA at a budget on a table | {worst[0]:+.3f} ({worst[1]} @ "
                 f"{worst[2]:g}× HB) | <= 0.05 | {'yes' if worst[0] <= 0.05 else 'no'} |")
    mlpf = [t for t in sim["table"].unique() if str(t).endswith("mlpf_delphes.csv") or str(t) == "mlpf_delphes"]
    for table in mlpf:
        _, scale = table_scale(table)
        v = per_run(sim, curves, table, MAIN, np.array([600]), scale)[:, 0]
        ok = np.where(np.isnan(v), np.inf, v) <= 0.01
        share = float(ok.mean()) if len(ok) else float("nan")
        L.append(f"| MLPF: regret <= 0.01 within 600 epochs | {ok.sum()} of {len(ok)} seeds ({share:.0%}) | "
                 f">= 90 % of 50 seeds | {'yes' if share >= 0.9 and len(ok) >= 50 else 'no'} |")
    return L + [""]
