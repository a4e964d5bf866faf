"""Markdown tables and the regret-vs-epochs figure of ``benchmarks/compare_schedulers.py``."""
from __future__ import annotations

import math
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from .methods import LABELS, OURS

STEP = 25  # epochs between points of the anytime curves (figure only)
FIRST = "asha,hyperband,swift-svr,swift-qsvr,bohb-hb,tpe-asha,random-full,optuna-hyperband,optuna-sha,ray-asha"  # the first protocol's simulated methods


def _sem(x: pd.Series) -> float:
    return float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")


def anytime_grid(curves: pd.DataFrame, seeds: list[int], upto: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean regret over ``seeds`` of the incumbent after ``g`` epochs (NaN until every seed has one)."""
    grid = np.arange(STEP, upto + 1, STEP)
    per_seed = np.full((len(seeds), len(grid)), np.nan)
    for i, s in enumerate(seeds):
        c = curves[curves["seed"] == s].sort_values("epochs")
        if c.empty:
            continue
        idx = np.searchsorted(c["epochs"].to_numpy(), grid, side="right") - 1
        vals = c["regret"].to_numpy()
        per_seed[i] = np.where(idx >= 0, vals[np.clip(idx, 0, None)], np.nan)
    mean = np.where(np.isnan(per_seed).any(axis=0), np.nan, np.nanmean(np.where(np.isnan(per_seed), 0, per_seed),
                                                                              axis=0))
    return grid, mean


def regret_at(curves: pd.DataFrame, seeds: list[int], epochs: int) -> float:
    """Mean regret over ``seeds`` of the incumbent after exactly ``epochs`` epochs (NaN while some
    seed has none yet)."""
    vals = []
    for s in seeds:
        c = curves[(curves["seed"] == s) & (curves["epochs"] <= epochs)].sort_values("epochs")
        if c.empty:
            return float("nan")
        vals.append(float(c["regret"].iloc[-1]))
    return float(np.mean(vals)) if vals else float("nan")


def summary_table(df: pd.DataFrame, curves: pd.DataFrame | None, marks: tuple[int, ...]) -> list[str]:
    head = ["method", "runs", "epochs (mean)", "trials", "true final loss", "regret (mean ± sem)",
            "returns table best"] + [f"regret @ {m} ep" for m in marks] + ["driver wall s (mean)"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = [m for m in LABELS if m in set(df["method"])]
    for m in order:
        d = df[df["method"] == m]
        seeds = sorted(d["seed"].unique())
        cells = [LABELS[m] + (f" (W={int(d['workers'].iloc[0])})" if "workers" in d else ""), str(len(d)),
                 f"{d['epochs'].mean():.0f}", f"{d['trials'].mean():.0f}", f"{d['final_loss'].mean():.3f}",
                 f"{d['regret'].mean():.3f} ± {_sem(d['regret']):.3f}",
                 f"{int(d['is_best'].astype(str).isin(['True', 'true', '1']).sum())}/{len(d)}"]
        for mk in marks:
            c = curves[curves["method"] == m] if curves is not None else None
            v = regret_at(c, seeds, mk) if c is not None and len(c) else float("nan")
            cells.append("–" if math.isnan(v) else f"{v:.3f}")
        cells.append(f"{d['wall_s'].mean():.2f}")
        out.append("| " + " | ".join(cells) + " |")
    return out


def figure(sim: pd.DataFrame, curves: pd.DataFrame, table: str, path: Path, upto: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for m in [m for m in LABELS if m in set(sim["method"])]:
        seeds = sorted(sim[(sim["method"] == m) & (sim["table"] == table)]["seed"].unique())
        c = curves[(curves["method"] == m) & (curves["table"] == table)]
        end = int(sim[(sim["method"] == m) & (sim["table"] == table)]["epochs"].max())
        grid, mean = anytime_grid(c, seeds, min(upto, end))
        style = "-" if m in OURS else "--"
        ax.plot(grid, np.clip(mean, 1e-3, None), style, label=LABELS[m], lw=1.6 if m in OURS else 1.2)
    ax.set_xlabel("epochs consumed")
    ax.set_ylabel(f"mean regret of the incumbent ({len(seeds)} paired seeds)")
    ax.set_yscale("log")  # a mean regret of 0 is drawn at 1e-3
    ax.set_title(f"{Path(table).name}: simulated replay, 2 workers (solid: ours, dashed: peers)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def agreement(sim: pd.DataFrame, ray: pd.DataFrame) -> list[str]:
    head = ["method", "seeds", "sim epochs", "Ray epochs (min–max)", "sim regret", "Ray regret",
            "same row as sim"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in [m for m in LABELS if m in set(sim["method"]) & set(ray["method"])]:
        s = sim[sim["method"] == m].set_index("seed")
        r = ray[ray["method"] == m].set_index("seed")
        seeds = sorted(set(s.index) & set(r.index))
        same = sum(int(float(s.loc[k, "row"]) == float(r.loc[k, "row"])) for k in seeds
                   if not (pd.isna(s.loc[k, "row"]) or pd.isna(r.loc[k, "row"])))
        rr = r.loc[seeds]
        out.append(f"| {LABELS[m]} | {len(seeds)} | {s.loc[seeds, 'epochs'].mean():.1f} | "
                   f"{rr['epochs'].mean():.1f} ({rr['epochs'].min()}–{rr['epochs'].max()}) | "
                   f"{s.loc[seeds, 'regret'].mean():.3f} | {rr['regret'].mean():.3f} | {same}/{len(seeds)} |")
    return out


def write_report(args, command: str) -> None:
    out = Path(args.out)
    paths = [Path(p) for p in args.sim.split(",") if p]
    sim = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    curves = pd.concat([pd.read_csv(p.with_name(p.stem + "_curves.csv")) for p in paths], ignore_index=True)
    lines = ["# Scheduler quality: ours against Ray Tune and Optuna (replay, epochs as the compute unit)", "",
             f"Machine: {os.cpu_count()}-core CPU ({platform.machine()}, {platform.system()}), no GPU; "
             f"Python {platform.python_version()}; shared with other jobs while measured (wall times are "
             "indicative).", "",
             "Commands (in order):", "", "```",
             "python benchmarks/compare_schedulers.py sim --draw with --methods " + FIRST + " --seeds 50 --workers 2 "
             "--out benchmarks/results/schedulers_sim.csv",
             "python benchmarks/compare_schedulers.py sim --draw with --methods " + FIRST + " --seeds 50 --workers 2 "
             "--asha-trials 40 --random-trials 8 "
             "--durations recorded --table benchmarks/results/curves_mlpf_gnn.csv --table benchmarks/results/curves_ucluster.csv "
             "--out benchmarks/results/schedulers_sim_recorded.csv",
             "python benchmarks/compare_schedulers.py ray --seeds 10 --max-epochs 8 --asha-trials 30 "
             "--random-trials 8 --out benchmarks/results/schedulers_ray.csv   "
             "# stopped during seed 7 (time), seeds 7-9 came from the next command, run beside it",
             "python benchmarks/compare_schedulers.py ray --seeds 3 --seed-offset 7 --max-epochs 8 --asha-trials 30 "
             "--random-trials 8 --out benchmarks/results/schedulers_ray_s7.csv",
             "python benchmarks/compare_schedulers.py sim --draw with --seeds 10 --max-epochs 8 --asha-trials 30 "
             "--random-trials 8 --workers 2 --methods asha,hyperband,swift-svr,swift-qsvr,bohb-hb,tpe-asha,"
             "random-full,ray-asha --out benchmarks/results/schedulers_sim_r8.csv",
             command, "```", ""]
    for table in sim["table"].unique():
        d = sim[sim["table"] == table]
        R = int(d["max_epochs"].iloc[0])
        from hpo.schedulers.brackets import hyperband_epochs

        hb = hyperband_epochs(R, 2)
        png = out.with_name(f"schedulers_{Path(table).stem}.png")
        figure(sim, curves, table, png, upto=int(1.25 * hb))
        marks = tuple(sorted({hb // 2, hb}))
        n_asha = int(d[d["method"] == "asha"]["trials"].max()) if "asha" in set(d["method"]) else "–"
        lines += [f"## {Path(table).name}: deterministic simulated-time replay, R = {R}, eta = 2", "",
                  f"{d['seed'].nunique()} paired seeds (the k-th configuration every random-sampling method "
                  "starts is the same table row; model-based methods start from the same rows and choose "
                  "the rest by their model, mapped to the nearest row); 2 simulated workers, "
                  + ("each epoch takes the seconds the curve recorder measured (TABLE.seconds.csv)"
                     if "durations" in d and d["durations"].iloc[0] == "recorded" else "1 epoch = 1 time unit")
                  + " (Optuna's loop is sequential: 1 worker); every run stops at 1.25 × "
                  f"Hyperband's budget ({int(1.25 * hb)} epochs) and returns its incumbent. ASHA-type "
                  "methods and Optuna draw configurations until their `--asha-trials` (see the commands) or "
                  f"the cap (at most {n_asha} were started here), random search trains its configurations to "
                  "R, Hyperband-type methods run one Hyperband iteration. `regret @ N ep` = mean regret of the "
                  "incumbent after N epochs (– while some seed has none yet).", "",
                  *summary_table(d, curves[curves["table"] == table], marks), "",
                  f"![mean regret vs epochs]({png.name})", ""]
    ray_paths = [Path(p) for p in (args.ray or "").split(",") if p and Path(p).exists()]
    if ray_paths:
        ray = pd.concat([pd.read_csv(p) for p in ray_paths], ignore_index=True)
        n_all = len(ray)
        ray = ray.drop_duplicates(["table", "method", "seed"], keep="first")  # first file listed wins
        dup_note = (f" {n_all - len(ray)} repeated runs of a (method, seed) already present in an earlier "
                    f"file were left out ({', '.join(p.name for p in ray_paths)}, first wins)."
                    if n_all > len(ray) else "")
        R = int(ray["max_epochs"].iloc[0])
        lines += [f"## Driven by Ray Tune 2.60 (2 concurrent trials, R = {R})", "",
                  "Ours through `hpo.tune` (our cores in the Ray adapter, our BOHB searcher, Ray's OptunaSearch "
                  "for TPE), the peers are Ray's own `ASHAScheduler`, `HyperBandScheduler`, `HyperBandForBOHB` + "
                  "`TuneBOHB` (hpbandster), all with `time_attr=hpo_epoch`; random-sampling methods get the "
                  "paired rows from a sequence searcher. Epochs = results reported. R = 8 because a Ray-driven "
                  "Hyperband run on R = 100 takes minutes here; at R = 8 the epoch-8 loss is a poor proxy "
                  "for the final loss, so regrets are large for every method." + dup_note, "",
                  *summary_table(ray, None, ()), ""]
        if args.sim_check and Path(args.sim_check).exists():
            chk = pd.read_csv(args.sim_check)
            lines += ["### Do Ray-driven runs agree with the simulation? (same seeds, same R, 2 workers)", "",
                      *agreement(chk, ray), ""]
    out.write_text("\n".join(lines) + "\n")
