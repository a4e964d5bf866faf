"""Cost of the ``predictive`` scheduler's decisions and of the curve-family extrapolation.

    python benchmarks/predictive_cost.py --trials 1000 --out benchmarks/results/predictive_cost.md

1. The core (``hpo.schedulers.predictive.PredictiveCore``, default options, and ASHA for scale) is
   driven by the simulated-time replay (``hpo.bench.simtime.simulate``, 4 workers) over a seeded
   synthetic table of ``--trials`` rows, R = ``--max-epochs``; every ``on_result`` call is timed
   (wall clock, ``time.perf_counter``), and the mean and the 99th percentile are reported, and so is
   the time of every ``choose_trial_to_run`` call (where a promoting core ranks its rungs), per
   result.  Goal: mean <= 5 ms per result at 1,000 trials, the two together.
2. ``predictors.curve_families.extrapolate`` on noisy curves of 3, 10, 30 and 50 points (target
   epoch 100), ``--reps`` calls each.  Goal: < ~2 ms per curve.
Single-threaded (BLAS threads capped to 1 before numpy loads).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from hpo.bench.rows import PairedRows  # noqa: E402
from hpo.bench.simtime import simulate  # noqa: E402
from hpo.bench.synthetic import synthetic_table  # noqa: E402
from hpo.protocols import Diagnostics  # noqa: E402
from hpo.schedulers import build_core  # noqa: E402
from predictors.curve_families import extrapolate  # noqa: E402


class Timed:
    """Delegates to a core and times ``on_result``."""

    def __init__(self, core):
        self.core, self.seconds, self.choose_seconds = core, [], []

    def on_result(self, trial_id, epoch, loss):
        t0 = time.perf_counter()
        out = self.core.on_result(trial_id, epoch, loss)
        self.seconds.append(time.perf_counter() - t0)
        return out

    def choose_trial_to_run(self, runnable):
        t0 = time.perf_counter()
        out = self.core.choose_trial_to_run(runnable)
        self.choose_seconds.append(time.perf_counter() - t0)
        return out

    def __getattr__(self, name):
        return getattr(self.core, name)


def core_cost(name: str, options: dict, trials: int, R: int, seed: int) -> dict:
    table = synthetic_table(rows=trials, epochs=R, seed=seed)
    core = Timed(build_core(name, options=options, max_epochs=R))
    r = simulate(core, table, PairedRows(table, seed, trials), max_epochs=R, n_trials=trials, workers=4)
    s = np.asarray(core.seconds) * 1e3
    choose_ms = float(np.sum(core.choose_seconds)) * 1e3
    rules = {}
    for d in core.core.decision_log() if isinstance(core.core, Diagnostics) else []:
        rules[d["rule"]] = rules.get(d["rule"], 0) + 1
    return {"name": name, "results": len(s), "epochs": r.epochs, "mean_ms": s.mean(),
            "p99_ms": np.percentile(s, 99), "total_s": s.sum() / 1e3, "rules": rules,
            "choose_ms": choose_ms / max(len(s), 1), "with_choose_ms": (s.sum() + choose_ms) / max(len(s), 1)}


def family_cost(n: int, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    x = np.arange(1, n + 1)
    curves = [1 + rng.uniform(1, 3) * x ** -rng.uniform(0.3, 1) + 0.02 * rng.standard_normal(n)
              for _ in range(reps)]
    extrapolate(curves[0], 100)  # warm the basis cache, as a run does after its first curve
    t0 = time.perf_counter()
    for c in curves:
        extrapolate(c, 100)
    return (time.perf_counter() - t0) / reps * 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--max-epochs", type=int, default=100)
    p.add_argument("--reps", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    rows = [core_cost("predictive", {}, a.trials, a.max_epochs, a.seed),
            core_cost("asha", {"reduction_factor": 2}, a.trials, a.max_epochs, a.seed)]
    fam = {n: family_cost(n, a.reps, a.seed) for n in (3, 10, 30, 50)}
    lines = ["# Cost of the predictive scheduler", "",
             f"Command: `python benchmarks/predictive_cost.py --trials {a.trials} --max-epochs {a.max_epochs} "
             f"--reps {a.reps}{' --out ' + a.out if a.out else ''}`", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other "
             "work, no GPU; single-threaded. Wall-clock figures vary up to 3x between runs on this shared "
             "machine (other jobs).", "",
             f"## Per result, {a.trials} trials, R = {a.max_epochs}, 4 simulated workers (goal: mean <= 5 ms)", "",
             "| core | results | on_result mean ms | on_result p99 ms | choose_trial_to_run ms per result | "
             "both, ms per result | decisions by rule |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['results']} | {r['mean_ms']:.3f} | {r['p99_ms']:.2f} | "
                     f"{r['choose_ms']:.3f} | {r['with_choose_ms']:.3f} | {r['rules'] or '-'} |")
    lines += ["", "## `curve_families.extrapolate`, per curve (target epoch 100; goal < ~2 ms)", "",
              "| points | ms |", "|---|---|"] + [f"| {n} | {ms:.2f} |" for n, ms in fam.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
