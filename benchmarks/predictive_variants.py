"""Variants of the ``predictive`` scheduler that were tried and not adopted, measured on the pool protocol.

    python benchmarks/predictive_variants.py --seeds 10 --out benchmarks/results/predictive_variants.md

The question behind each variant is in :data:`VARIANTS`.  They are experiments, so they live here
and not in ``hpo/``: each is a small subclass of :class:`hpo.schedulers.predictive.PredictiveCore`.
The protocol is that of ``predictive_defaults.py`` (same tables, paired seeds, finite pools, BOHB's
KDE sampler, 2 simulated workers, runs capped at 1.25 B epochs, B = one Hyperband iteration with
eta = 2) and the score is the same normalised regret after 0.25 B, 0.5 B and B epochs.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predictive_defaults import find_tables, run as defaults_run  # noqa: E402

from hpo.bench.table import load_table  # noqa: E402
from hpo.protocols import CONTINUE, PAUSE  # noqa: E402
from hpo.schedulers.predictive import PredictiveCore  # noqa: E402


class FinishToCap(PredictiveCore):
    """End game without the top-k limit: once nothing can start or be promoted, the best paused
    trial of the highest rung goes on, again and again, until the run's epoch cap."""

    def _complete_top_k(self, free):
        for j in reversed(range(len(self.rung_epochs))):
            for _, t, _ in self._ranked(j, self._horizon(j)):
                if t in free and self.status[t] == "paused" and len(self.at[t]) == j + 1:
                    return t
        return None


class WithoutFirstRung(PredictiveCore):
    """The same rungs without the 1-epoch rung, on every table (an oracle for "epoch 1 says
    nothing here": it is right on most LCBench tables and wrong on MLPF)."""

    def __init__(self, max_epochs, **kw):
        super().__init__(max_epochs, **kw)
        if len(self.rung_epochs) > 1:
            self.rung_epochs, self.stages, self.members = self.rung_epochs[1:], self.stages[1:], self.members[1:]


class ProbeFirstRung(PredictiveCore):
    """Learn whether the 1-epoch rung ranks usefully: while undecided, every other new trial is a
    probe that passes the rungs below the third without a cut; once ``n_probe`` probes reached
    the third rung, the 1-epoch rung is dropped for all later trials if the probes' Spearman
    correlation between their 1-epoch and third-rung losses is below ``rho_min``."""

    def __init__(self, max_epochs, n_probe=12, rho_min=0.5, **kw):
        super().__init__(max_epochs, **kw)
        self.probe_rung = min(2, len(self.rung_epochs) - 1)
        self.n_probe, self.rho_min = n_probe, rho_min
        self.first_rung_on: bool | None = None if self.probe_rung > 0 else True
        self.probes: set[str] = set()
        self.probed: list[str] = []
        self.n_started = 0

    def on_result(self, trial_id, epoch, loss):
        if int(epoch) == 1:
            self.n_started += 1
            if self.first_rung_on is None and self.n_started % 2 == 1:
                self.probes.add(trial_id)
        return super().on_result(trial_id, epoch, loss)

    def _passes(self, trial_id, j):
        if self.first_rung_on is None:
            return trial_id in self.probes and j < self.probe_rung
        return j == 0 and not self.first_rung_on

    def _decide(self, trial_id, epoch):
        j = len(self.at.get(trial_id, []))
        passes = j < len(self.rung_epochs) and epoch >= self.rung_epochs[j] and self._passes(trial_id, j)
        decision = super()._decide(trial_id, epoch)
        if passes and decision == PAUSE:
            return CONTINUE
        if self.first_rung_on is None and trial_id in self.probes and len(self.at[trial_id]) == self.probe_rung + 1:
            self.probed.append(trial_id)
            if len(self.probed) >= self.n_probe:
                rho = spearmanr([self.at[t][0][0] for t in self.probed],
                                [self.at[t][self.probe_rung][0] for t in self.probed]).correlation
                self.first_rung_on = not (math.isfinite(rho) and rho < self.rho_min)
        return decision


class PassFlatRungs(PredictiveCore):
    """Learn, without probes, whether the low rungs still rank: whenever a trial starts, the rungs
    from the bottom up whose trusted predictions ``ahead`` rungs on spread less than their own
    uncertainty are passed without a cut by the trials that reach them from then on.  Spread:
    robust ``R^2 = s^2 / (s^2 + sigma^2)`` with ``s = 1.4826 MAD`` of the members' predicted
    losses; a rung is passed while ``R^2 < r2_min``."""

    def __init__(self, max_epochs, r2_min=0.3, ahead=2, **kw):
        super().__init__(max_epochs, **kw)
        self.r2_min, self.ahead, self.lowest = r2_min, ahead, 0

    def _r2(self, j):
        h = self._horizon(j)
        if h < min(j + self.ahead, len(self.stages)):
            return None
        preds = [p for _, _, p in self._ranked(j, h) if p is not None]
        if len(preds) < 10:
            return None
        mu = np.array([p[0] for p in preds])
        s = 1.4826 * float(np.median(np.abs(mu - np.median(mu))))
        return s * s / (s * s + preds[0][1] ** 2)

    def on_result(self, trial_id, epoch, loss):
        if int(epoch) == 1:
            self.lowest = 0
            for j in range(len(self.rung_epochs) - 1):
                r2 = self._r2(j)
                if r2 is None or r2 >= self.r2_min:
                    break
                self.lowest = j + 1
        return super().on_result(trial_id, epoch, loss)

    def _decide(self, trial_id, epoch):
        j = len(self.at.get(trial_id, []))
        passes = j < min(self.lowest, len(self.rung_epochs)) and epoch >= self.rung_epochs[j]
        decision = super()._decide(trial_id, epoch)
        return CONTINUE if passes and decision == PAUSE else decision


VARIANTS = {
    "default": (PredictiveCore, "the shipped defaults (the reference row)"),
    "finish-to-cap": (FinishToCap, "does a budget-aware end game pay? (LCBench runs end near 1,150 of 1,617 epochs)"),
    "without-1-epoch-rung": (WithoutFirstRung, "what does the 1-epoch rung cost where epoch 1 says nothing?"),
    "probe-1-epoch-rung": (ProbeFirstRung, "can the run learn, from unselected probes, whether to keep the 1-epoch rung?"),
    "pass-flat-rungs": (PassFlatRungs, "can it learn the same from its own stage models, without probes?"),
}


def run(table, cls, seed: int) -> tuple[list[float], int]:
    """``predictive_defaults.run`` (its protocol, its read-out) with the variant's core."""
    return defaults_run(table, "predictive", {}, seed, core_class=cls)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    tables = {k: load_table(v) for k, v in find_tables().items()}
    t0 = time.perf_counter()
    res = {}
    for name, (cls, _) in VARIANTS.items():
        for tname, table in tables.items():
            regs, eps = zip(*(run(table, cls, s) for s in range(a.seeds)))
            res[name, tname] = (np.mean(regs, axis=0), float(np.mean(eps)))
        print(f"{name}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    text = report(a, tables, res, time.perf_counter() - t0)
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    return 0


def report(a, tables, res, wall) -> str:
    cell = lambda v: " / ".join(f"{x:.3f}" for x in v)  # noqa: E731
    L = ["# `predictive`: variants tried and not adopted", "",
         f"Command: `python benchmarks/predictive_variants.py --seeds {a.seeds}"
         f"{' --out ' + a.out if a.out else ''}` ({wall / 60:.1f} min on a 2-core x86_64 CPU shared with "
         "other work, single-threaded, no GPU).", "",
         f"Protocol of `predictive_defaults.py`: paired seeds 0..{a.seeds - 1}, finite pools, BOHB's KDE "
         "sampler, 2 simulated workers, cap 1.25 B.  Cells: mean normalised regret over seeds at "
         "0.25 B / 0.5 B / B (1.0 before any trial completes), and the mean epochs spent.", "",
         "| variant | question |", "|---|---|"]
    L += [f"| `{n}` | {q} |" for n, (_, q) in VARIANTS.items()]
    L += ["", "| table | " + " | ".join(f"`{n}`" for n in VARIANTS) + " |",
          "|---|" + "---|" * len(VARIANTS)]
    for t in tables:
        L.append(f"| {t} | " + " | ".join(f"{cell(res[n, t][0])} ({res[n, t][1]:.0f} ep)" for n in VARIANTS) + " |")
    L.append("| **mean over tables** | " + " | ".join(
        cell(np.mean([res[n, t][0] for t in tables], axis=0)) for n in VARIANTS) + " |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
