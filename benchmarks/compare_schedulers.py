"""Scheduler quality on learning-curve tables: ours against Ray Tune's, Optuna's and DEHB (issues #8, #13).

The finite-pool protocol (issue #13; rows drawn without replacement, the default of ``sim``),
2-core CPU, no GPU; the exact commands of the committed results are in
``benchmarks/results/schedulers_pool.md``:

    python benchmarks/compare_schedulers.py sim --seeds 10 --workers 2 --table T1 --table T2 ... \
        --out benchmarks/results/schedulers_pool_a.csv
    python benchmarks/compare_schedulers.py summary --sim benchmarks/results/schedulers_pool_a.csv,... \
        --out benchmarks/results/schedulers_pool.md

``--methods`` takes any name of ``hpo.bench.methods.REGISTRY`` (``predictive`` runs once
``hpo.schedulers.build_core("predictive", ...)`` exists; by default it is left out with a message
until then).  ``dehb`` builds its own venv on first use (``hpo.bench.dehb_peer``).

The first protocol (issue #8: paired rows with replacement), whose CSVs stay committed and are
reproduced exactly with ``--draw with`` and its method list:

    M=asha,hyperband,swift-svr,swift-qsvr,bohb-hb,tpe-asha,random-full,optuna-hyperband,optuna-sha,ray-asha
    python benchmarks/compare_schedulers.py sim --draw with --methods $M --seeds 50 --workers 2 \
        --out benchmarks/results/schedulers_sim.csv
    python benchmarks/compare_schedulers.py sim --draw with --methods $M --seeds 50 --workers 2 \
        --asha-trials 40 --random-trials 8 --durations recorded --table benchmarks/results/curves_mlpf_gnn.csv \
        --table benchmarks/results/curves_ucluster.csv --out benchmarks/results/schedulers_sim_recorded.csv
    # the methods driven by Ray Tune (ours through hpo.tune; Ray's schedulers and searchers)
    python benchmarks/compare_schedulers.py ray --seeds 10 --max-epochs 8 --asha-trials 30 \
        --random-trials 8 --out benchmarks/results/schedulers_ray.csv
    #    ... and the simulation of exactly that setting, to check that ours agree with it
    python benchmarks/compare_schedulers.py sim --draw with --seeds 10 --max-epochs 8 --asha-trials 30 \
        --random-trials 8 --workers 2 --methods asha,hyperband,swift-svr,swift-qsvr,bohb-hb,tpe-asha,random-full,ray-asha \
        --out benchmarks/results/schedulers_sim_r8.csv
    python benchmarks/compare_schedulers.py report \
        --sim benchmarks/results/schedulers_sim.csv,benchmarks/results/schedulers_sim_recorded.csv

Regret = true final loss (last table column) of the returned configuration minus the table's
best final loss (``summary`` normalises it by the table's median final loss minus the best).
Every method returns, among its trials that reached ``max_epochs``, the one with the lowest loss
there.
"""
from __future__ import annotations

import argparse
import csv
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hpo.bench.methods import ALL, OPTUNA, REGISTRY, sim_parts, trials_for, unavailable  # noqa: E402
from hpo.bench.peers import optuna_pruned  # noqa: E402
from hpo.bench.simtime import fixed_duration, recorded_duration, simulate  # noqa: E402
from hpo.bench.table import load_table  # noqa: E402
from hpo.datasets import resolve_table  # noqa: E402

DEFAULT_TABLE = "mlpf_delphes"  # a name (hpo.datasets) or a path; lcbench_<task> tables live outside the repo
FIELDS = ["table", "method", "seed", "max_epochs", "workers", "epochs", "trials", "row", "loss_at_R",
          "final_loss", "regret", "is_best", "wall_s", "durations"]


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("sim", "ray"):
        s = sub.add_parser(name)
        s.add_argument("--table", action="append", help=f"curve table (repeatable; default {DEFAULT_TABLE})")
        s.add_argument("--seeds", type=int, default=10)
        s.add_argument("--seed-offset", type=int, default=0)
        s.add_argument("--max-epochs", type=int, default=None, help="R (default: the table's epochs)")
        s.add_argument("--eta", type=int, default=2)
        s.add_argument("--asha-trials", type=int, default=250, help="trials for ASHA-type methods")
        s.add_argument("--random-trials", type=int, default=32, help="trials of random search (full training)")
        s.add_argument("--methods", default=None, help="comma-separated (default: all for the mode)")
        s.add_argument("--out", required=True, help="CSV of per-run results")
        if name == "sim":
            s.add_argument("--workers", type=int, default=2)
            s.add_argument("--epoch-cap", type=int, default=None,
                           help="stop a run after this many epochs (default 1.25 x Hyperband's budget)")
            s.add_argument("--durations", choices=("fixed", "recorded"), default="fixed",
                           help="epoch durations: 1 time unit, or TABLE.seconds.csv from the curve recorder")
            s.add_argument("--curves-out", default=None, help="CSV of anytime regret (default: beside --out)")
            s.add_argument("--draw", choices=("without", "with"), default="without",
                           help="rows without replacement (a table is a finite pool; model-based searchers "
                                "map to the nearest unused row), or with (the first protocol: concatenated "
                                "permutations, nearest row used or not)")
            s.add_argument("--screen-trials", type=int, default=None,
                           help="candidates of one-epoch and sh (default: every row of the table)")
    q = sub.add_parser("summary", help="normalised-regret report of `sim` CSVs (anytime curves, budgets)")
    q.add_argument("--sim", required=True, help="comma-separated CSVs written by `sim`")
    q.add_argument("--out", required=True, help="markdown file; PNGs are written beside it")
    q.add_argument("--commands", default="", help="text file of the commands that made the CSVs")
    q.add_argument("--notes", default="", help="markdown file inserted after the header (protocol notes)")
    r = sub.add_parser("report")
    r.add_argument("--sim", default="benchmarks/results/schedulers_sim.csv", help="comma-separated CSVs")
    r.add_argument("--sim-check", default="benchmarks/results/schedulers_sim_r8.csv")
    r.add_argument("--ray", default="benchmarks/results/schedulers_ray.csv", help="comma-separated CSVs")
    r.add_argument("--out", default="benchmarks/results/schedulers.md")
    return p.parse_args(argv)


def _methods(arg: str | None, allowed: tuple[str, ...]) -> list[str]:
    names = [m.strip() for m in arg.split(",")] if arg else list(allowed)
    bad = [m for m in names if m not in allowed]
    if bad:
        raise SystemExit(f"unknown method {bad[0]!r} for this mode; choose from {', '.join(allowed)}")
    return names


def _write(path: str, rows: list[dict], fields: list[str]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _sim_methods(arg: str | None, max_epochs: int) -> list[str]:
    """Requested methods (default: every registered one that can run here; an unavailable one
    is left out with a message, or is an error when asked for by name)."""
    names = _methods(arg, tuple(REGISTRY))
    out = []
    for m in names:
        why = unavailable(m, max_epochs)
        if why is None:
            out.append(m)
        elif arg:
            raise SystemExit(f"method {m!r} cannot run: {why}")
        else:
            print(f"leaving out {m}: {why}", file=sys.stderr, flush=True)
    return out


def run_sim(args) -> None:
    from hpo.schedulers.brackets import hyperband_epochs

    methods = _sim_methods(args.methods, args.max_epochs or 8)
    replace = args.draw == "with"
    dehb = None
    rows, curves = [], []
    curves_out = args.curves_out or str(Path(args.out).with_name(Path(args.out).stem + "_curves.csv"))
    try:
        for path in args.table or [DEFAULT_TABLE]:
            resolved = resolve_table(path)
            table = load_table(str(resolved))
            R = args.max_epochs or table.max_epochs
            cap = args.epoch_cap or int(1.25 * hyperband_epochs(R, args.eta))
            best_row = table.best_row()
            duration = fixed_duration()
            if args.durations == "recorded":
                import numpy as np

                sec = resolved.with_suffix(".seconds.csv")
                if not sec.exists():
                    raise SystemExit(f"--durations recorded: {sec} not found (written by python -m hpo.bench record)")
                duration = recorded_duration(np.loadtxt(sec, delimiter=",", skiprows=1, ndmin=2))
            for seed in range(args.seed_offset, args.seed_offset + args.seeds):
                for m in methods:
                    n = trials_for(m, R, args.eta, args.asha_trials, args.random_trials,
                                   args.screen_trials or table.n_rows)
                    runner = REGISTRY[m].runner
                    if runner == "optuna":
                        r = optuna_pruned(table, pruner=m.split("-", 1)[1], seed=seed, n_trials=n, max_epochs=R,
                                          eta=args.eta, epoch_cap=cap, replace=replace)
                    elif runner == "dehb":
                        from hpo.bench.dehb_peer import DEHBClient, dehb_run

                        dehb = dehb or DEHBClient()
                        r = dehb_run(dehb, table, seed=seed, max_epochs=R, eta=args.eta, epoch_cap=cap,
                                     replace=replace)
                    else:
                        core, src = sim_parts(m, table, seed=seed, max_epochs=R, eta=args.eta, n_trials=n,
                                              replace=replace)
                        r = simulate(core, table, src, max_epochs=R, n_trials=n, workers=args.workers,
                                     epoch_cap=cap, duration=duration)
                    sequential = runner != "sim"
                    rows.append({"table": path, "method": m, "seed": seed, "max_epochs": R,
                                 "workers": 1 if sequential else args.workers,
                                 "epochs": r.epochs, "trials": r.trials_started, "row": r.chosen_row,
                                 "loss_at_R": r.loss_at_R, "final_loss": r.final_loss, "regret": r.regret,
                                 "is_best": r.chosen_row == best_row, "wall_s": round(r.wall_s, 4),
                                 "durations": "sequential" if sequential else args.durations})
                    curves += [{"table": path, "method": m, "seed": seed, "epochs": e, "regret": g}
                               for e, g in r.anytime]
                    print(f"{Path(path).name} seed {seed} {m:17s} epochs {r.epochs:6d} regret {r.regret:7.3f} "
                          f"wall {r.wall_s:6.2f}s", file=sys.stderr, flush=True)
            _write(args.out, rows, FIELDS)  # partial results survive an interruption
            _write(curves_out, curves, ["table", "method", "seed", "epochs", "regret"])
    finally:
        if dehb is not None:
            dehb.close()
    _write(args.out, rows, FIELDS)
    _write(curves_out, curves, ["table", "method", "seed", "epochs", "regret"])


def run_ray(args) -> None:
    import ray

    from hpo.ray.bench import ray_run
    from hpo.ray.cluster import SLOT

    methods = _methods(args.methods, tuple(m for m in ALL if m not in OPTUNA))
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    ray.init(address="local", num_cpus=2, resources={SLOT: 2}, include_dashboard=True, dashboard_host="127.0.0.1",
             object_store_memory=400 * 1024 * 1024, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    rows = []
    try:
        for path in args.table or [DEFAULT_TABLE]:
            table = load_table(str(resolve_table(path).resolve()))
            R = args.max_epochs or table.max_epochs
            for seed in range(args.seed_offset, args.seed_offset + args.seeds):
                for m in methods:  # methods alternate inside a seed: machine load hits all alike
                    r = ray_run(m, table, seed=seed, max_epochs=R, eta=args.eta, asha_trials=args.asha_trials,
                                random_trials=args.random_trials)
                    r.update(table=path, max_epochs=R, workers=2, is_best=r["row"] == table.best_row(), durations="ray",
                             wall_s=round(r["wall_s"], 2))
                    rows.append(r)
                    print(f"ray {Path(path).name} seed {seed} {m:14s} epochs {r['epochs']:6d} regret "
                          f"{r['regret']:7.3f} wall {r['wall_s']:6.1f}s", file=sys.stderr, flush=True)
                    _write(args.out, rows, FIELDS)  # partial results survive an interruption
    finally:
        ray.shutdown()


def main(argv=None) -> int:
    args = parse(argv)
    t0 = time.time()
    if args.cmd == "sim":
        run_sim(args)
    elif args.cmd == "ray":
        run_ray(args)
    elif args.cmd == "summary":
        from hpo.bench.protocol_report import write_summary

        command = "python benchmarks/compare_schedulers.py " + " ".join(
            shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
        text = Path(args.commands).read_text().strip() + "\n" if args.commands else ""
        write_summary([Path(p) for p in args.sim.split(",") if p], Path(args.out), text + command,
                      Path(args.notes).read_text() if args.notes else "")
    else:
        from hpo.bench.report import write_report

        command = "python benchmarks/compare_schedulers.py " + " ".join(
            shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
        write_report(args, command)
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
