"""Scheduler overhead: our cores against Ray Tune's, in Ray and without it (issue #8).

    python benchmarks/overhead.py --trials 500 --results 20 --repeats 2 --out benchmarks/results/overhead.md

1. **Ray end to end**: ``--trials`` no-op trials x ``--results`` reports each (constant metric, so no
   trial is stopped and both schedulers see exactly trials x results decisions) through ``hpo.tune``
   with our ASHA and with Ray's ``ASHAScheduler`` (same settings: grace 1, rf 2, ``time_attr
   hpo_epoch``, 2 concurrent trials, the same seeded random search), alternating, ``--repeats``
   times each.  Reported: wall-time ratio (goal <= 1.1) and the time spent inside
   ``on_trial_result`` per decision (measured by wrapping it).  Then Swift-Hyperband with each
   predictor, our Hyperband and Ray's ``HyperBandScheduler`` on one Hyperband iteration of no-op
   trials whose loss decreases (so predictors are fitted), fit time included.
2. **Cores alone** (no Ray): per-decision cost of our ASHA, Ray's ASHA decision code, our Hyperband
   and Swift (+ SVR, + Q-SVR) driven by the simulated-time replay on a synthetic table.
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import hpo  # noqa: E402


def noop_constant(config):
    for _ in range(config["max_epochs"]):
        hpo.report(loss=0.0)


def noop_curve(config):
    state = hpo.get_checkpoint() or {"epoch": 0}
    for e in range(state["epoch"], config["max_epochs"]):
        hpo.report(loss=config["a"] + config["b"] / (e + 1), checkpoint={"epoch": e + 1})


class Timed:
    """Wrap a scheduler's ``on_trial_result`` (and ``choose_trial_to_run``) and count the seconds
    spent inside them."""

    def __init__(self, sched):
        self.sched, self.seconds, self.calls, self.choose_s = sched, 0.0, 0, 0.0
        sched.on_trial_result = self._timed(sched.on_trial_result, "seconds", count=True)
        sched.choose_trial_to_run = self._timed(sched.choose_trial_to_run, "choose_s")

    def _timed(self, fn, total: str, count: bool = False):
        """Wrap ``fn`` so its wall time adds to ``self.<total>`` (and counts calls if asked)."""

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                setattr(self, total, getattr(self, total) + time.perf_counter() - t0)
                if count:
                    self.calls += 1

        return timed


def ray_scheduler(name: str, R: int, predictor: str | None = None):
    from hpo.protocols import Objective
    from hpo.ray.bench import ray_asha, ray_hyperband
    from hpo.ray.scheduler import build_ray_scheduler

    if name == "ray-asha":
        return ray_asha(R, 2)
    if name == "ray-hyperband":
        return ray_hyperband(R, 2)
    factory = None
    if predictor:
        import predictors

        factory = lambda: predictors.build_predictor(predictor, {}, seed=0)  # noqa: E731
    opts = {"asha": {"grace_period": 1, "reduction_factor": 2}, "hyperband": {"eta": 2}, "swift": {"eta": 2},
            "predictive": {}}[name]
    return build_ray_scheduler(name, objective=Objective("loss", "min"), options=opts, max_epochs=R, seed=0,
                               predictor_factory=factory)


def one_ray_run(label: str, sched, fn, space, n: int, R: int, limit_s: float | None = None) -> dict:
    timer = Timed(sched)
    storage = tempfile.mkdtemp(prefix="hpo_overhead_")
    t0 = time.perf_counter()
    try:
        res = hpo.tune(fn, space=space, metric="loss", mode="min", num_samples=n, max_epochs=R, scheduler=sched,
                       search="random", seed=0, storage=storage, name=label, max_concurrent=2, num_cpus=2,
                       time_limit_s=limit_s, verbose=False)
        results = len(res.curves)
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    wall = time.perf_counter() - t0
    from hpo.protocols import Diagnostics

    core = getattr(sched, "core", None)  # ours wrap a core; Ray's schedulers do not
    fits = core.predictor_fit_seconds() if isinstance(core, Diagnostics) else []
    return {"label": label, "wall_s": wall, "results": results, "decisions": timer.calls,
            "decide_s": timer.seconds, "choose_s": timer.choose_s, "fits": len(fits),
            "hit_limit": limit_s is not None and wall >= limit_s}


def ray_part(args) -> tuple[list[dict], list[dict]]:
    import ray

    from hpo.ray.cluster import SLOT

    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    ray.init(address="local", num_cpus=2, resources={SLOT: 2}, include_dashboard=True, dashboard_host="127.0.0.1",
             object_store_memory=400 * 1024 * 1024, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    asha, swift = [], []
    try:
        space = {"x": hpo.uniform(0.0, 1.0)}
        for rep in range(args.repeats):
            for name in ("asha", "ray-asha") if rep % 2 == 0 else ("ray-asha", "asha"):
                r = one_ray_run(f"{name}-{rep}", ray_scheduler(name, args.results), noop_constant, space,
                                args.trials, args.results)
                r.update(method=name, rep=rep)
                asha.append(r)
                print(r, file=sys.stderr, flush=True)
        space2 = {"a": hpo.uniform(1.0, 2.0), "b": hpo.uniform(0.5, 3.0)}
        for name, pred in (("hyperband", None), ("ray-hyperband", None), ("swift", "svr"), ("swift", "qsvr"),
                           ("predictive", None)):
            sched = ray_scheduler(name, args.hb_epochs, pred)
            label = name + (f"-{pred}" if pred else "")
            from hpo.schedulers.brackets import hyperband_trials

            r = one_ray_run(label, sched, noop_curve, space2, hyperband_trials(args.hb_epochs, 2), args.hb_epochs,
                            limit_s=args.run_limit)
            r.update(method=label, rep=0)
            swift.append(r)
            print(r, file=sys.stderr, flush=True)
    finally:
        ray.shutdown()
    return asha, swift


def core_part(args) -> list[dict]:
    from hpo.bench.methods import predictor_factory
    from hpo.protocols import Diagnostics
    from hpo.ray.bench import RayASHACore
    from hpo.bench.rows import PairedRows
    from hpo.bench.simtime import simulate
    from hpo.bench.synthetic import synthetic_table
    from hpo.schedulers import build_core

    table = synthetic_table(rows=args.core_trials, epochs=args.results, seed=0)
    R, n = args.results, args.core_trials
    out = []
    for label in ("asha", "ray-asha", "hyperband", "swift-svr", "swift-qsvr", "predictive"):
        if label == "asha":
            core = build_core("asha", options={"grace_period": 1, "reduction_factor": 2}, max_epochs=R)
        elif label == "ray-asha":
            core = RayASHACore(R, 2)
        elif label == "hyperband":
            core = build_core("hyperband", options={"eta": 2}, max_epochs=R)
        elif label == "predictive":
            core = build_core("predictive", options={}, max_epochs=R)
        else:
            core = build_core("swift", options={"eta": 2}, max_epochs=R,
                              predictor_factory=predictor_factory(label.split("-")[1], 0))
        r = simulate(core, table, PairedRows(table, 0, n), max_epochs=R, n_trials=n, workers=2)
        fits = core.predictor_fit_seconds() if isinstance(core, Diagnostics) else []  # timed by the cores
        out.append({"method": label, "decisions": r.epochs, "wall_s": r.wall_s, "fits": len(fits), "fit_s": sum(fits)})
        print(out[-1], file=sys.stderr, flush=True)
    return out


def markdown(args, asha, swift, cores, command) -> str:
    lines = ["# Scheduler overhead: ours vs Ray Tune's", "", f"Command: `{command}`", "",
             f"Machine: {os.cpu_count()}-core CPU ({platform.machine()}, {platform.system()}), no GPU; Python "
             f"{platform.python_version()}; shared with other jobs while measured, so single wall times carry "
             "noise of several per cent; runs alternate to spread it.", ""]
    if asha:
        lines += [f"## ASHA in Ray Tune: {args.trials} no-op trials x {args.results} results", "",
                  "Constant metric: no trial is stopped, both schedulers make every decision. 'decide' = time "
                  "inside the scheduler's `on_trial_result` (our adapter + core, or Ray's scheduler).", "",
                  "| run | scheduler | wall s | results | decide ms total | decide µs / result | "
                  "choose_trial_to_run ms total |", "|---|---|---|---|---|---|---|"]
        for r in asha:
            lines.append(f"| {r['rep']} | {r['method']} | {r['wall_s']:.1f} | {r['results']} | "
                         f"{1e3 * r['decide_s']:.0f} | {1e6 * r['decide_s'] / max(r['decisions'], 1):.1f} | "
                         f"{1e3 * r['choose_s']:.0f} |")
        ours = [r for r in asha if r["method"] == "asha"]
        ray = [r for r in asha if r["method"] == "ray-asha"]
        wo, wr = sum(r["wall_s"] for r in ours) / len(ours), sum(r["wall_s"] for r in ray) / len(ray)
        do = sum(r["decide_s"] for r in ours) / sum(r["decisions"] for r in ours)
        dr = sum(r["decide_s"] for r in ray) / sum(r["decisions"] for r in ray)
        lines += ["", f"**Wall-time ratio ours / Ray = {wo / wr:.3f}** (mean {wo:.1f} s vs {wr:.1f} s; goal <= 1.1). "
                  f"Per decision: ours {1e6 * do:.1f} µs, Ray's ASHAScheduler {1e6 * dr:.1f} µs.", ""]
    if swift:
        lines += [f"## Pausing schedulers in Ray Tune: one Hyperband iteration, R = {args.hb_epochs}, eta = 2", "",
                  "No-op trials with loss a + b/epoch (checkpoint every epoch, so PAUSE resumes). Swift's and predictive's "
                  "decide time includes their predictor fits (they run inside `on_trial_result`).", "",
                  "| scheduler | wall s | results | decide ms total | decide µs / result | "
                  "choose_trial_to_run ms total | predictor fits | end |", "|---|---|---|---|---|---|---|---|"]
        for r in swift:
            lines.append(f"| {r['method']} | {r['wall_s']:.1f} | {r['results']} | {1e3 * r['decide_s']:.0f} | "
                         f"{1e6 * r['decide_s'] / max(r['decisions'], 1):.1f} | {1e3 * r['choose_s']:.0f} | {r['fits']} | "
                         + (f"**stalled: stopped by the {args.run_limit:.0f} s limit**" if r["hit_limit"] else "finished")
                         + " |")
        lines.append("")
    if cores:
        lines += [f"## Cores alone (no Ray): {args.core_trials} trials, R = {args.results}, synthetic curves, "
                  "simulated-time replay with 2 workers", "",
                  "| core | decisions | wall s | µs / decision | predictor fits | fit s |", "|---|---|---|---|---|---|"]
        for r in cores:
            lines.append(f"| {r['method']} | {r['decisions']} | {r['wall_s']:.3f} | "
                         f"{1e6 * r['wall_s'] / r['decisions']:.1f} | {r['fits']} | {r['fit_s']:.3f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=500)
    p.add_argument("--results", type=int, default=20)
    p.add_argument("--core-trials", type=int, default=500, help="trials of the cores-alone part")
    p.add_argument("--repeats", type=int, default=2, help="runs of each ASHA (alternating)")
    p.add_argument("--hb-epochs", type=int, default=20, help="R of the pausing-scheduler runs")
    p.add_argument("--run-limit", type=float, default=300.0,
                   help="time limit (s) of each pausing-scheduler run (a stalled run is reported as such)")
    p.add_argument("--no-ray", action="store_true", help="cores only")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    command = "python benchmarks/overhead.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    cores = core_part(args)
    asha, swift = ([], []) if args.no_ray else ray_part(args)
    text = markdown(args, asha, swift, cores, command)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
