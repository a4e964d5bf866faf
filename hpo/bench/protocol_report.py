"""Normalised-regret report of the scheduler benchmark (``compare_schedulers.py summary``).

Normalised regret of a run's answer = (true final loss of the returned configuration − the
table's best final loss) / (the table's median final loss − best), so 0 is the table's best and 1
a median configuration, comparable across tables.  The anytime value after exactly ``N`` epochs is
the regret of the incumbent the run had then (the last improvement at or before ``N``; a run that
ended earlier keeps its answer).  A run with no answer yet counts as 1 (a median configuration)
and the tables say how many had none.  Budgets are fractions of one Hyperband iteration's epochs
(eta = 2), the budget every Hyperband-family method spends.
"""
from __future__ import annotations

import math
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from hpo.schedulers.brackets import hyperband_epochs

from .methods import LABELS, REGISTRY
from .table import load_table, regret_scale

FRACTIONS = (0.25, 0.5, 1.0)
NO_ANSWER = 1.0


def table_scale(path: str) -> tuple[float, float]:
    """(best final loss, median final − best) of the table at ``path``."""
    return regret_scale(load_table(path))


def anytime_at(curve_epochs: np.ndarray, curve_regret: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Regret of the incumbent after exactly each budget (NaN before the first answer)."""
    if len(curve_epochs) == 0:
        return np.full(len(budgets), np.nan)
    idx = np.searchsorted(curve_epochs, budgets, side="right") - 1
    return np.where(idx >= 0, curve_regret[np.clip(idx, 0, None)], np.nan)


def per_run(sim: pd.DataFrame, curves: pd.DataFrame, table: str, method: str, budgets: np.ndarray,
            scale: float) -> np.ndarray:
    """(seeds x budgets) normalised regret, NaN where a run had no answer yet."""
    seeds = sorted(sim[(sim["table"] == table) & (sim["method"] == method)]["seed"].unique())
    c = curves[(curves["table"] == table) & (curves["method"] == method)]
    out = np.full((len(seeds), len(budgets)), np.nan)
    for i, s in enumerate(seeds):
        cs = c[c["seed"] == s].sort_values("epochs")
        out[i] = anytime_at(cs["epochs"].to_numpy(), cs["regret"].to_numpy(), budgets) / scale
    return out


def filled(v: np.ndarray) -> np.ndarray:
    """Normalised regrets with a run that has no answer yet counted as ``NO_ANSWER`` (a median
    configuration)."""
    return np.where(np.isnan(v), NO_ANSWER, v)


def _fmt(x: np.ndarray) -> str:
    f = filled(x)
    sem = f.std(ddof=1) / math.sqrt(len(f)) if len(f) > 1 else float("nan")
    none = int(np.isnan(x).sum())
    return f"{f.mean():.3f} ± {sem:.3f}" + (f" ({none} none)" if none else "")


def _methods(sim: pd.DataFrame) -> list[str]:
    present = set(sim["method"])
    return [m for m in LABELS if m in present]


def figure(sim: pd.DataFrame, curves: pd.DataFrame, table: str, R: int, scale: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hb = hyperband_epochs(R, 2)
    grid = np.unique(np.linspace(1, int(1.25 * hb), 400).astype(int))
    fig, ax = plt.subplots(figsize=(8, 5))
    for m in _methods(sim[sim["table"] == table]):
        v = per_run(sim, curves, table, m, grid, scale)
        mean = filled(v).mean(axis=0)
        ours = m in REGISTRY and REGISTRY[m].ours
        ax.plot(grid, np.clip(mean, 1e-3, None), "-" if ours else "--", lw=1.6 if ours else 1.2, label=LABELS[m])
    for f in FRACTIONS:
        ax.axvline(f * hb, color="grey", lw=0.6, ls=":")
    ax.set_xlabel(f"epochs consumed (dotted: 0.25, 0.5, 1 × Hyperband's {hb})")
    ax.set_ylabel("mean normalised regret (no answer yet = 1)")
    ax.set_yscale("log")  # 0 is drawn at 1e-3
    ax.set_title(f"{Path(table).name}: R = {R}, {sim[sim['table'] == table]['seed'].nunique()} paired seeds "
                 "(solid: ours, dashed: peers)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_summary(paths: list[Path], out: Path, commands: str = "", notes: str = "") -> None:
    sim = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    curves = pd.concat([pd.read_csv(p.with_name(p.stem + "_curves.csv")) for p in paths], ignore_index=True)
    methods = _methods(sim)
    lines = ["# Scheduler benchmark: normalised regret on finite tables (rows drawn without replacement)", "",
             f"Machine: {os.cpu_count()}-core CPU ({platform.machine()}, {platform.system()}), no GPU; "
             f"Python {platform.python_version()}; shared with other jobs while measured (wall times are "
             "indicative, epochs and regrets are exact and deterministic).", "",
             __doc__.split("\n\n", 1)[1].strip().replace("\n", " "), ""]
    if commands:
        lines += ["Commands:", "", "```", commands.strip(), "```", ""]
    if notes:
        lines += [notes.strip(), ""]
    overall = {m: [[] for _ in FRACTIONS] for m in methods}
    sections = []
    for table in sim["table"].unique():
        d = sim[sim["table"] == table]
        R = int(d["max_epochs"].iloc[0])
        hb = hyperband_epochs(R, 2)
        budgets = np.array([int(round(f * hb)) for f in FRACTIONS])
        best, scale = table_scale(table)
        png = out.with_name(f"{out.stem}_{Path(table).stem}.png")
        figure(sim, curves, table, R, scale, png)
        head = ["method", "runs", "epochs (mean)", "trials (mean)"] + \
            [f"@ {f:g}× HB = {b} ep" for f, b in zip(FRACTIONS, budgets)] + ["at the end", "driver wall s"]
        rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for m in [m for m in methods if m in set(d["method"])]:
            dm = d[d["method"] == m]
            v = per_run(sim, curves, table, m, budgets, scale)
            for j in range(len(FRACTIONS)):
                overall[m][j].append(float(filled(v[:, j]).mean()))
            end = (dm["regret"] / scale).to_numpy()
            end = np.where(np.isfinite(end), end, np.nan)
            rows.append("| " + " | ".join([LABELS[m], str(len(dm)), f"{dm['epochs'].mean():.0f}",
                                           f"{dm['trials'].mean():.0f}"] + [_fmt(v[:, j]) for j in
                                                                              range(len(FRACTIONS))]
                                          + [_fmt(end), f"{dm['wall_s'].mean():.2f}"]) + " |")
        sections += [f"## {Path(table).name}: R = {R}, {load_table(table).n_rows} rows, "
                     f"{d['seed'].nunique()} paired seeds", "",
                     f"Best final loss {best:.4g}, median − best {scale:.4g}; Hyperband's budget {hb} epochs; "
                     f"every run is capped at 1.25 × that ({int(1.25 * hb)}).", "", *rows, "",
                     f"![normalised regret vs epochs]({png.name})", ""]
    head = ["method", "tables"] + [f"mean @ {f:g}× HB" for f in FRACTIONS] + ["rank @ 0.5× HB"]
    summary = ["## Summary: mean over tables of the mean normalised regret", "",
               "Each table weighs the same; a method's mean is over the tables it ran on.", "",
               "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    mid = {m: np.mean(overall[m][1]) for m in methods if overall[m][1]}
    ranked = sorted(mid, key=mid.get)
    for m in ranked:
        summary.append("| " + " | ".join([LABELS[m], str(len(overall[m][0]))] +
                                         [f"{np.mean(overall[m][j]):.3f}" for j in range(len(FRACTIONS))] +
                                         [str(ranked.index(m) + 1)]) + " |")
    from .goals import goal_lines

    goals = goal_lines(sim, curves, overall)
    out.write_text("\n".join(lines + summary + [""] + goals + sections) + "\n")
