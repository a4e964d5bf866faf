"""``python -m hpo.bench``: Hyperband vs Swift-Hyperband (and ASHA) replayed on a curve table.

Writes a markdown table (per seed and mean: epochs, best final loss, same-as-Hyperband flag,
wall time), the exact command and the machine, plus a CSV beside it.  Example (the published
anchor: García Amboage et al., CHEP 2023 / Wulff et al., QMI 2024 — 3213 vs 2926 epochs)::

    python -m hpo.bench --table mlpf_delphes \\
        --schedulers hyperband,swift --seeds 10 --max-epochs 100 --eta 2 \\
        --out benchmarks/results/swift_hyperband.md

``python -m hpo.bench record --space SPACE.yaml --configs N`` records a new curve table with a real
trainable (``hpo.bench.record``).
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import sys
from pathlib import Path

from .table import load_table

from hpo.datasets import resolve_table
from hpo.errors import ConfigError
from hpo.schedulers import build_core
from hpo.schedulers.brackets import hyperband_epochs, hyperband_trials

from .replay import replay

SCHEDULERS = ("hyperband", "swift", "asha", "asha-promote")
PREDICTORS = ("nusvr-minmax", "svr", "qsvr")


def predictor_factory(name: str):
    if name == "nusvr-minmax":
        from .reference_predictor import minmax_nusvr

        return minmax_nusvr
    try:
        import predictors
    except ModuleNotFoundError:
        raise SystemExit(f"predictor {name!r} needs the 'predictors' package, which is not built yet; "
                         "use --predictor nusvr-minmax") from None
    return lambda: predictors.build_predictor(name, {})


def make_core(name: str, args, factory):
    if name == "hyperband":
        return build_core("hyperband", options={"eta": args.eta}, max_epochs=args.max_epochs)
    if name == "swift":
        opts = {"eta": args.eta, "d": args.d, "k": args.k, "kc": args.kc, "q": args.q, "refit": args.refit}
        return build_core("swift", options=opts, max_epochs=args.max_epochs, predictor_factory=factory)
    variant = "promote" if name == "asha-promote" else "stop"
    return build_core("asha", options={"reduction_factor": args.eta, "variant": variant},
                      max_epochs=args.max_epochs)


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m hpo.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--table", default="mlpf_delphes", help="table name (hpo.datasets) or CSV path")
    p.add_argument("--schedulers", default="hyperband,swift",
                   help=f"comma-separated, from {', '.join(SCHEDULERS)}; hyperband is the reference")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (paired across schedulers)")
    p.add_argument("--max-epochs", type=int, default=100, help="R")
    p.add_argument("--eta", type=int, default=2)
    p.add_argument("--workers", type=int, default=1, help="simulated workers W (1 = sequential reference)")
    p.add_argument("--predictor", default="nusvr-minmax", choices=PREDICTORS)
    p.add_argument("--d", type=int, default=15)
    p.add_argument("--k", type=float, default=0.5)
    p.add_argument("--kc", type=float, default=0.5)
    p.add_argument("--q", type=float, default=0.25)
    p.add_argument("--refit", action="store_true")
    p.add_argument("--out", default=None, help="markdown file (a .csv is written beside it)")
    args = p.parse_args(argv)
    args.schedulers = [s.strip() for s in args.schedulers.split(",") if s.strip()]
    bad = [s for s in args.schedulers if s not in SCHEDULERS]
    if bad:
        p.error(f"unknown scheduler {bad[0]!r}; choose from {', '.join(SCHEDULERS)}")
    if "hyperband" not in args.schedulers:
        args.schedulers.insert(0, "hyperband")
    return args


def run(args) -> list[dict]:
    table = load_table(str(resolve_table(args.table)))
    n_trials = hyperband_trials(args.max_epochs, args.eta)
    factory = predictor_factory(args.predictor) if "swift" in args.schedulers else None
    rows = []
    for seed in range(args.seeds):
        ref = None
        for name in args.schedulers:
            core = make_core(name, args, factory)
            r = replay(core, table, max_epochs=args.max_epochs, n_trials=n_trials, seed=seed,
                       workers=args.workers)
            if name == "hyperband":
                ref = r
            rows.append({"scheduler": name, "seed": seed, "epochs": r.epochs, "row": r.chosen_row,
                         "loss_at_R": r.chosen_loss, "final_loss": r.final_loss, "regret": r.regret,
                         "same_as_hb": r.chosen_row == ref.chosen_row, "sim_time": r.sim_time,
                         "wall_s": r.wall_s, "fits": len(core.pool.fit_log) if name == "swift" else 0})
            print(f"seed {seed} {name:13s} epochs {r.epochs:6d} best final loss {r.final_loss:.3f} "
                  f"(row {r.chosen_row}) wall {r.wall_s:.2f}s", file=sys.stderr)
    return rows


def markdown(args, rows: list[dict], command: str) -> str:
    names = args.schedulers
    by = {(r["scheduler"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    out = ["# Swift-Hyperband vs Hyperband: replay benchmark", "",
           f"Command: `{command}`", "",
           f"Machine: {os.cpu_count()}-core CPU ({platform.machine()}, {platform.system()}), no GPU; "
           f"Python {platform.python_version()}. Pure-Python simulation (no Ray).", "",
           f"Table `{args.table}`; R = {args.max_epochs}, eta = {args.eta}, {len(seeds)} paired seeds "
           f"(the same table rows, in the same order, for every scheduler), "
           f"{hyperband_trials(args.max_epochs, args.eta)} trials per run, W = {args.workers} simulated "
           f"worker(s), 1 epoch = 1 simulated time unit.",
           f"Swift: predictor `{args.predictor}`, d = {args.d}, k = {args.k}, kc = {args.kc}, q = {args.q}, "
           f"refit = {args.refit}. Plain Hyperband's exact epoch count is "
           f"{hyperband_epochs(args.max_epochs, args.eta)}.",
           "\"best final loss\" = last table column of the configuration the run selects; "
           "\"same\" = same configuration as Hyperband with the same seed.", ""]
    head = ["seed"]
    for n in names:
        head += [f"{n} epochs", f"{n} best final loss"] + ([] if n == "hyperband" else [f"{n} same"]) \
            + [f"{n} wall s"]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in seeds:
        cells = [str(s)]
        for n in names:
            r = by[(n, s)]
            cells += [str(r["epochs"]), f"{r['final_loss']:.3f}"] + \
                ([] if n == "hyperband" else ["yes" if r["same_as_hb"] else "no"]) + [f"{r['wall_s']:.2f}"]
        out.append("| " + " | ".join(cells) + " |")
    cells = ["mean"]
    for n in names:
        rs = [by[(n, s)] for s in seeds]
        same = sum(r["same_as_hb"] for r in rs)
        cells += [f"{sum(r['epochs'] for r in rs) / len(rs):.1f}",
                  f"{sum(r['final_loss'] for r in rs) / len(rs):.3f}"] + \
            ([] if n == "hyperband" else [f"{same}/{len(rs)}"]) + \
            [f"{sum(r['wall_s'] for r in rs) / len(rs):.2f}"]
    out.append("| " + " | ".join(cells) + " |")
    hb = sum(by[("hyperband", s)]["epochs"] for s in seeds) / len(seeds)
    out.append("")
    for n in names:
        if n == "hyperband":
            continue
        rs = [by[(n, s)] for s in seeds]
        mean = sum(r["epochs"] for r in rs) / len(rs)
        out.append(f"- {n}: mean {mean:.1f} epochs ({100 * (mean - hb) / hb:+.1f} % vs Hyperband), "
                   f"same configuration as Hyperband in {sum(r['same_as_hb'] for r in rs)} of {len(rs)} "
                   f"seeds, mean regret {sum(r['regret'] for r in rs) / len(rs):.3f}"
                   + (f", {sum(r['fits'] for r in rs) / len(rs):.1f} predictor fits per run" if n == "swift" else "")
                   + ".")
    if "swift" in names and args.max_epochs == 100 and args.eta == 2:
        out.append("- Published (S1 results, 10 seeds, same table): Hyperband 3213 epochs, Swift + SVR "
                   "2926 epochs (-8.9 %), same best loss in every seed.")
    return "\n".join(out) + "\n"


def record_main(argv: list[str]) -> int:
    from .record import record

    p = argparse.ArgumentParser(prog="python -m hpo.bench record",
                                description="train N sampled configurations to the full budget and "
                                            "write a learning-curve table")
    p.add_argument("--space", required=True, help="search-space YAML (its trainable, metric, budget)")
    p.add_argument("--configs", type=int, required=True, help="number of sampled configurations")
    p.add_argument("--max-epochs", type=int, default=None, help="default: the space's budget.max_epochs")
    p.add_argument("--seed", type=int, default=None, help="default: the space's seed")
    p.add_argument("--jobs", type=int, default=1, help="training processes in parallel")
    p.add_argument("--out", default=None, help="CSV path (default benchmarks/results/curves_<space>.csv)")
    a = p.parse_args(argv)
    if a.configs < 1:
        p.error("--configs must be >= 1")
    out = a.out or f"benchmarks/results/curves_{Path(a.space).stem}.csv"
    command = "python -m hpo.bench record " + " ".join(shlex.quote(x) for x in argv)
    try:
        info = record(a.space, a.configs, out, max_epochs=a.max_epochs, seed=a.seed, jobs=a.jobs, command=command)
    except ConfigError as exc:
        print(exc.one_line(), file=sys.stderr)
        return 2
    print(f"wrote {info['table']}: {info['rows']} curves x {info['max_epochs']} epochs "
          f"({len(info['dropped'])} left out) in {info['wall_s']:.0f} s", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["record"]:
        return record_main(argv[1:])
    args = parse(argv)
    try:
        rows = run(args)
    except ConfigError as exc:
        print(exc.one_line(), file=sys.stderr)
        return 2
    command = "python -m hpo.bench " + " ".join(shlex.quote(a) for a in argv)
    text = markdown(args, rows, command)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        with out.with_suffix(".csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {out} and {out.with_suffix('.csv')}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
