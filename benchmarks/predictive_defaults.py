"""Defaults of the ``predictive`` scheduler by leave-one-table-out (LOTO), against ASHA and Hyperband.

    python benchmarks/predictive_defaults.py --seeds 10 --out benchmarks/results/predictive_defaults.md

Tables: the MLPF Delphes table and the 8 LCBench tables (from ``$HPO_SHARED`` or ``../shared``
beside the checkout: ``data/learning-curves/``), and our recorded ``benchmarks/results/
curves_mlpf_gnn.csv`` and ``curves_ucluster.csv``.  Each table is a finite pool: trial ``i`` of
seed ``s`` trains row ``permutation_s[i]`` (``hpo.bench.replay.paired_rows``; no row twice), the
same stream for every method.  Every run is the simulated-time replay
(``hpo.bench.simtime.simulate``, 2 workers, 1 epoch = 1 time unit, R = the table's epochs) capped
at 1.25 ``B``, ``B`` = the epochs of one Hyperband iteration (eta = 2) on that table.

Score: normalised regret ``(final loss of the returned row - table best) / (table median final -
table best)`` of the incumbent (the best loss at R among completed trials) after 0.25 B, 0.5 B
and B epochs; 1.0 (the median) when no trial has completed yet.  A setting's score on a table is
its mean over seeds and the three budgets.  LOTO: for each table, the setting with the best mean
score over the *other* tables is chosen and its held-out regrets recorded.  The defaults are the
setting chosen in most folds (ties: the best mean over all tables).
"""
from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from hpo.bench.goals import paired  # noqa: E402
from hpo.bench.methods import predictive_parts  # noqa: E402
from hpo.bench.rows import PairedRows  # noqa: E402
from hpo.bench.simtime import simulate  # noqa: E402
from hpo.schedulers import build_core  # noqa: E402
from hpo.schedulers.brackets import hyperband_epochs, hyperband_trials  # noqa: E402
from hpo.bench.table import load_table, regret_scale  # noqa: E402

FRACTIONS = (0.25, 0.5, 1.0)
GRID = {"eta": (2, 3), "k": (2, 5), "threshold": (0.0, 0.05, 0.1), "trust": ("strict",)}
TRUST = {"loose": {"min_pairs": 5, "min_calib": 3, "min_coverage": 0.5},
         "strict": {"min_pairs": 10, "min_calib": 8, "min_coverage": 0.8}}
BASELINES = {"asha-eta2": ("asha", {"reduction_factor": 2}), "asha-eta3": ("asha", {"reduction_factor": 3}),
             "hyperband": ("hyperband", {"eta": 2})}  # random sampling (the paired stream)


def find_tables() -> dict[str, str]:
    shared = Path(os.environ.get("HPO_SHARED") or ROOT.parent / "shared") / "data" / "learning-curves"
    out = {}
    if (shared / "mlpf_delphes.csv").is_file():
        out["mlpf_delphes"] = str(shared / "mlpf_delphes.csv")
    for p in sorted((shared / "lcbench").glob("lcbench_*.csv")):
        if not p.name.endswith(".seconds.csv"):
            out[p.stem] = str(p)
    for name in ("curves_mlpf_gnn", "curves_ucluster"):
        p = ROOT / "benchmarks" / "results" / f"{name}.csv"
        if p.is_file():
            out[name] = str(p)
    return out


def emit(text: str, out: str | None) -> int:
    """Print a benchmark's report and, with ``out``, write it there (the scripts' common tail)."""
    print(text)
    if out:
        Path(out).write_text(text)
    return 0


def settings() -> list[dict]:
    keys = list(GRID)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(GRID[k] for k in keys))]


def label(s: dict) -> str:
    return f"eta={s['eta']} k={s['k']} thr={s['threshold']} trust={s['trust']}"


def options(s: dict) -> dict:
    return {"eta": s["eta"], "k": s["k"], "threshold": s["threshold"], **TRUST[s["trust"]]}


def run(table, name: str, opts: dict, seed: int, core_class=None) -> tuple[list[float], int]:
    """Normalised regrets at the budget fractions, and the epochs spent.  ``core_class``: a
    ``PredictiveCore`` subclass to run in place of ``predictive`` (``predictive_variants.py``)."""
    R = table.max_epochs
    B = hyperband_epochs(R, 2)
    if name == "hyperband":
        n = min(hyperband_trials(R, opts["eta"]), table.n_rows)
    else:
        n = table.n_rows if name == "predictive" else min(250, table.n_rows)
    if name == "predictive":  # benchmarked as it is recommended: with BOHB's KDE sampler
        core, source = predictive_parts(table, seed=seed, max_epochs=R, n_trials=n, replace=False, options=opts,
                                        core_class=core_class)
    else:
        core, source = build_core(name, options=opts, max_epochs=R), PairedRows(table, seed, n, replace=False)
    r = simulate(core, table, source, max_epochs=R, n_trials=n, workers=2, epoch_cap=int(1.25 * B))
    return normalised_regrets(table, r, B), r.epochs


def normalised_regrets(table, result, B: int) -> list[float]:
    """The incumbent's normalised regret after each fraction of ``B`` epochs (1.0 before any trial
    has completed)."""
    scale = regret_scale(table)[1]
    out = []
    for f in FRACTIONS:
        seen = [reg for ep, reg in result.anytime if ep <= f * B]
        out.append(seen[-1] / scale if seen else 1.0)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--out", default=None)
    p.add_argument("--csv", default=None, help="every run's regrets (default: beside --out)")
    a = p.parse_args(argv)
    tables = {k: load_table(v) for k, v in find_tables().items()}
    grid = settings()
    t0 = time.perf_counter()
    res: dict[tuple[str, str], np.ndarray] = {}  # (method label, table) -> (seeds, 3)
    eps: dict[tuple[str, str], float] = {}
    rows = []
    for tname, table in tables.items():
        methods = [(label(s), "predictive", options(s)) for s in grid] + \
                  [(b, n, o) for b, (n, o) in BASELINES.items()]
        for lab, name, opts in methods:
            regs, spent = zip(*(run(table, name, opts, seed) for seed in range(a.seeds)))
            res[lab, tname], eps[lab, tname] = np.array(regs), float(np.mean(spent))
            rows += [[tname, lab, seed, *r, e] for seed, (r, e) in enumerate(zip(regs, spent))]
        print(f"{tname}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    labels = [label(s) for s in grid]
    score = {(lab, t): float(res[lab, t].mean()) for lab in labels for t in tables}
    folds = {}
    for held in tables:
        others = [t for t in tables if t != held]
        folds[held] = min(labels, key=lambda lab: (np.mean([score[lab, t] for t in others]), lab))
    overall = {lab: np.mean([score[lab, t] for t in tables]) for lab in labels}
    counts = {lab: sum(1 for v in folds.values() if v == lab) for lab in labels}
    chosen = min(labels, key=lambda lab: (-counts[lab], overall[lab]))
    text = report(a, tables, res, eps, folds, counts, overall, chosen, grid, time.perf_counter() - t0)
    print(text)
    if a.out:
        Path(a.out).write_text(text)
        csv_path = a.csv or str(Path(a.out).with_suffix(".csv"))
        with open(csv_path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["table", "method", "seed", *[f"nregret_{f}B" for f in FRACTIONS], "epochs"])
            w.writerows(rows)
    return 0


def report(a, tables, res, eps, folds, counts, overall, chosen, grid, wall) -> str:
    f3 = lambda v: f"{v:.3f}"  # noqa: E731
    L = ["# `predictive` defaults by leave-one-table-out", "",
         f"Command: `python benchmarks/predictive_defaults.py --seeds {a.seeds}"
         f"{' --out ' + a.out if a.out else ''}` ({wall / 60:.1f} min on a 2-core x86_64 CPU shared with "
         "other work, single-threaded, no GPU).", "",
         "## Procedure", "",
         "* Tables: " + ", ".join(f"`{t}` ({tb.n_rows} rows, R = {tb.max_epochs})" for t, tb in tables.items()) + ".",
         f"* Paired seeds 0..{a.seeds - 1}: each table is a finite pool (rows drawn without replacement).  "
         "ASHA and Hyperband take the seed's paired random stream; `predictive` is run as it is recommended, "
         "with BOHB's KDE sampler (`search: bohb`; its random draws are the same paired stream) and every "
         "row of the table as a candidate.  Simulated time, 2 workers, runs capped at 1.25 B epochs, "
         "B = epochs of one Hyperband iteration (eta = 2).  ASHA may start 250 trials.",
         "* Normalised regret = (final loss of the returned row - table best) / (table median final - table "
         "best), read off the incumbent after 0.25 B, 0.5 B and B epochs (1.0 before any trial completes).",
         f"* Grid ({len(grid)} settings): eta {GRID['eta']}, k {GRID['k']}, threshold {GRID['threshold']} "
         "(0: the predictor only ranks the rung, it never vetoes a promotion), trust strict = "
         f"{TRUST['strict']}.",
         "* Score of a setting on a table: mean normalised regret over seeds and the three budgets.  LOTO: for "
         "each held-out table, the setting with the best mean score on the other tables; its held-out figures "
         "are below.  Defaults: the setting chosen in most folds (ties: best mean over all tables).", "",
         f"## Chosen defaults: `{chosen}` (chosen in {counts[chosen]} of {len(tables)} folds)", "",
         "## Held-out figures (mean normalised regret over seeds at 0.25 B / 0.5 B / B; epochs used)", "",
         "| held-out table | B | LOTO setting | predictive (LOTO) | ASHA eta=2 | ASHA eta=3 | Hyperband | "
         "pred - ASHA2 (paired, mean ± s.e.) | epochs pred / ASHA2 / HB |", "|---|---|---|---|---|---|---|---|---|"]
    means = {m: [] for m in ("pred", "asha-eta2", "asha-eta3", "hyperband")}
    for t, tb in tables.items():
        lab = folds[t]
        cells = []
        for key, m in (("pred", lab), ("asha-eta2", "asha-eta2"), ("asha-eta3", "asha-eta3"),
                       ("hyperband", "hyperband")):
            v = res[m, t].mean(axis=0)
            means[key].append(v)
            cells.append(" / ".join(f3(x) for x in v))
        diff = res[lab, t].mean(axis=1) - res["asha-eta2", t].mean(axis=1)  # per seed, over budgets
        L.append(f"| {t} | {hyperband_epochs(tb.max_epochs, 2)} | {lab} | " + " | ".join(cells) +
                 f" | {paired(diff)} | {eps[lab, t]:.0f} / {eps['asha-eta2', t]:.0f} / "
                 f"{eps['hyperband', t]:.0f} |")
    L.append("| **mean over tables** | | | " + " | ".join(
        " / ".join(f3(x) for x in np.mean(means[k], axis=0)) for k in means) + " | | |")
    L += ["", "## Every setting: mean score over all tables (lower is better)", "",
          "| setting | mean score | LOTO folds won |", "|---|---|---|"]
    for lab in sorted(overall, key=overall.get):
        L.append(f"| {lab} | {f3(overall[lab])} | {counts[lab]} |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
