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
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predictive_defaults import emit, find_tables, run as defaults_run  # noqa: E402

from hpo.bench.goals import paired as goals_paired  # noqa: E402
from hpo.bench.table import load_table  # noqa: E402
from hpo.protocols import CONTINUE, PAUSE, Outcome  # noqa: E402
from hpo.schedulers.asha import rank_cutoff  # noqa: E402
from hpo.schedulers.predictive import PredictiveCore, beat_probability  # noqa: E402
from predictors.curve_families import extrapolate  # noqa: E402


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


class PassingCore(PredictiveCore):
    """Base of the variants in which some trials pass a rung without a cut: the rung still records
    them (their losses teach the stage models, unselected), but they go on instead of pausing."""

    def _passes(self, trial_id: str, j: int) -> bool:
        raise NotImplementedError

    def _decide(self, trial_id, epoch):
        j = len(self.at.get(trial_id, []))
        passes = j < len(self.rung_epochs) and epoch >= self.rung_epochs[j] and self._passes(trial_id, j)
        decision = super()._decide(trial_id, epoch)
        return CONTINUE if passes and decision == PAUSE else decision


class ProbeFirstRung(PassingCore):
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
        decision = super()._decide(trial_id, epoch)
        if decision == CONTINUE:
            return decision
        if self.first_rung_on is None and trial_id in self.probes and len(self.at[trial_id]) == self.probe_rung + 1:
            self.probed.append(trial_id)
            if len(self.probed) >= self.n_probe:
                rho = spearmanr([self.at[t][0][0] for t in self.probed],
                                [self.at[t][self.probe_rung][0] for t in self.probed]).correlation
                self.first_rung_on = not (math.isfinite(rho) and rho < self.rho_min)
        return decision


class PassFlatRungs(PassingCore):
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

    def _passes(self, trial_id, j):
        return j < self.lowest


class HedgeFirstRung(PassingCore):
    """Hedge a fixed share of new trials, as asynchronous Hyperband's brackets do (Li et al., MLSys
    2020): new trial ``i`` starts its cuts at rung ``pattern[i % len(pattern)]``.  The default
    pattern sends every fourth trial past the 1-epoch rung's cut."""

    pattern: tuple[int, ...] = (0, 0, 0, 1)

    def __init__(self, max_epochs, **kw):
        super().__init__(max_epochs, **kw)
        self.first_cut: dict[str, int] = {}

    def on_result(self, trial_id, epoch, loss):
        if trial_id not in self.first_cut:
            self.first_cut[trial_id] = self.pattern[len(self.first_cut) % len(self.pattern)]
        return super().on_result(trial_id, epoch, loss)

    def _passes(self, trial_id, j):
        return j < self.first_cut[trial_id]


class HyperbandShares(HedgeFirstRung):
    """Hedge with shares closer to Hyperband's brackets: 1 trial in 16 starts its cuts at the
    second rung and 1 in 16 at the third."""

    pattern = (0,) * 7 + (1,) + (0,) * 7 + (2,)


def _p_beats(core: PredictiveCore, trial_id: str, h: int, pred, ref: float | None = None) -> float | None:
    """``Phi((ref - mu) / sigma)`` against ``ref`` (default: the core's k-th best at ``h``)."""
    ref = core._reference(trial_id, h) if ref is None else ref
    return None if ref is None else beat_probability(*pred, ref)


class FastTrack(PredictiveCore):
    """Let the predictor also promote beyond ASHA's quota: when no trial in a rung's top
    ``1/eta`` is promotable, the best-predicted trial below the quota goes on if its probability
    of beating the k-th best at the horizon is at least ``p_fast``."""

    p_fast = 0.3

    def _promote_from(self, j, free):
        t = super()._promote_from(j, free)
        h = self._horizon(j)
        if t is not None or h <= j:
            return t
        ranked = self._ranked(j, h)
        for _, t, pred in ranked[len(ranked) // self.eta:]:
            if pred is None or t not in free or self.status[t] != "paused" or len(self.at[t]) != j + 1:
                continue
            p = _p_beats(self, t, h, pred)
            if p is None or p < self.p_fast:
                return None  # ranked by mu with one sigma for the rung: the rest have lower p
            FIRED["fast-track"] += 1
            self.rung_log.append({"trial_id": t, "rung": self.rung_epochs[j], "rule": "fast", "p": p,
                                  "continued": True})
            if h == len(self.stages):
                self.predicted[t] = pred[0]
            return t
        return None


class VetoOnly(PredictiveCore):
    """The predictor only vetoes: the rung is ranked by its observed losses, as ASHA ranks it,
    and a trial in the quota is still stopped when its probability is below the threshold."""

    def _ranked(self, j, h):
        m, pos = self.rung_epochs[j], {t: i for i, t in enumerate(self.members[j])}

        def key(row):
            v = self.loss_at(row[1], m)
            return (v if math.isfinite(v) else math.inf, pos[row[1]])
        return sorted(super()._ranked(j, h), key=key)


class SkipNotStop(PredictiveCore):
    """A veto leaves the trial paused instead of stopping it, so a later, better-informed look at
    the rung (or the end game) may still promote it."""

    def __init__(self, max_epochs, **kw):
        super().__init__(max_epochs, **kw)
        self.skipped: set[str] = set()

    def stop(self, trial_id, reason):
        if reason.outcome is Outcome.STOPPED_PREDICTOR:
            if trial_id not in self.skipped:  # counted once per trial: a skipped trial is looked at again
                self.skipped.add(trial_id)
                FIRED["skip-not-stop"] += 1
            self.predicted.pop(trial_id, None)
            return  # stays paused: the caller goes on to the next trial of the rung
        super().stop(trial_id, reason)


class EndGameByP(PredictiveCore):
    """Spend what is left on the predictor's best bets: once nothing can start or be promoted
    (and the top-k is known), the paused trial, at any rung whose chain to the final epoch is
    trusted, with the highest probability of beating the best observed final goes on while that
    probability is at least ``p_end``."""

    p_end = 0.05

    def _complete_top_k(self, free):
        t = super()._complete_top_k(free)
        if t is not None or not self.finals:
            return t
        H, ref, best = len(self.stages), min(self.finals), (self.p_end, None)
        for j in range(len(self.rung_epochs)):
            if self._horizon(j) < H:
                continue
            for _, t, pred in self._ranked(j, H):
                if pred is not None and t in free and self.status[t] == "paused" and len(self.at[t]) == j + 1:
                    p = _p_beats(self, t, H, pred, ref)
                    if p >= best[0]:
                        best = (p, t)
        if best[1] is not None:
            FIRED["end-game-by-p"] += 1
            self.rung_log.append({"trial_id": best[1], "rule": "end_p", "p": best[0], "continued": True})
        return best[1]


class RankByExtrapolation(PredictiveCore):
    """Where the rank rule decides (the chain is not trusted), rank a rung of at least
    ``min_epochs`` epochs by each curve's own curve-family extrapolation to the final epoch
    (Domhan et al., IJCAI 2015; no learned map, so no selection bias) instead of by the loss
    observed at the rung."""

    min_epochs = 3

    def __init__(self, max_epochs, **kw):
        super().__init__(max_epochs, **kw)
        self.final_guess: dict[tuple[str, int], float] = {}

    def _decide(self, trial_id, epoch):
        decision = super()._decide(trial_id, epoch)
        j = len(self.at.get(trial_id, [])) - 1
        if j >= 0 and self.rung_epochs[j] >= self.min_epochs and (trial_id, j) not in self.final_guess:
            self.final_guess[trial_id, j] = extrapolate(self.curves[trial_id][:self.rung_epochs[j]],
                                                        self.max_epochs)[0]
        return decision

    def _ranked(self, j, h):
        out = super()._ranked(j, h)
        if h > j or self.rung_epochs[j] < self.min_epochs:
            return out
        pos = {t: i for i, t in enumerate(self.members[j])}

        def key(row):
            v = self.final_guess.get((row[1], j), row[0])
            return (v if math.isfinite(v) else math.inf, pos[row[1]])
        return sorted(out, key=key)


class ArrivalRule(PredictiveCore):
    """Add stop-type ASHA's rule on arrival (Ray's ``ASHAScheduler``): a trial within the best
    ``1/eta`` of the losses its rung had recorded before it goes straight on; the others pause and
    may still be promoted later by the usual rules."""

    def _decide(self, trial_id, epoch):
        j = len(self.at.get(trial_id, []))
        at_rung = j < len(self.rung_epochs) and epoch >= self.rung_epochs[j]
        prior = [self.at[t][j][0] for t in self.members[j]] if at_rung else []
        decision = super()._decide(trial_id, epoch)
        if decision != PAUSE or len(self.at[trial_id]) != j + 1:
            return decision
        if not prior or self.at[trial_id][j][0] <= rank_cutoff(prior, self.eta):
            FIRED["arrival-rule"] += 1
            self.rung_log.append({"trial_id": trial_id, "rung": self.rung_epochs[j], "rule": "arrival",
                                  "continued": True})
            return CONTINUE
        return decision


VARIANTS = {
    "default": (PredictiveCore, "the shipped defaults (the reference row)"),
    "finish-to-cap": (FinishToCap, "does a budget-aware end game pay? (LCBench runs end near 1,150 of 1,617 epochs)"),
    "without-1-epoch-rung": (WithoutFirstRung, "what does the 1-epoch rung cost where epoch 1 says nothing?"),
    "probe-1-epoch-rung": (ProbeFirstRung, "can the run learn, from unselected probes, whether to keep the 1-epoch rung?"),
    "pass-flat-rungs": (PassFlatRungs, "can it learn the same from its own stage models, without probes?"),
    "hedge-1-in-4": (HedgeFirstRung, "does a fixed hedge pay (every 4th trial skips the 1-epoch cut, as async Hyperband's brackets do)?"),
    "hyperband-shares": (HyperbandShares, "the same hedge with smaller shares, over two rungs"),
    "fast-track": (FastTrack, "can the predictor pay by promoting beyond ASHA's quota (p >= 0.3)?"),
    "veto-only": (VetoOnly, "does the predictor's ranking cost regret (rank by observed loss, keep the veto)?"),
    "skip-not-stop": (SkipNotStop, "does a veto that pauses instead of stopping pay?"),
    "end-game-by-p": (EndGameByP, "can the leftover budget go to the paused trials the predictor rates best?"),
    "rank-by-extrapolation": (RankByExtrapolation, "while the chain is untrusted, rank by each curve's own extrapolated final loss?"),
    "arrival-rule": (ArrivalRule, "does adding stop-type ASHA's lenient rule on arrival pay?"),
}
FIRED: Counter = Counter()  # how often each variant's own rule acted, over the whole benchmark
COUNTED = ("fast-track", "skip-not-stop", "end-game-by-p", "arrival-rule")


def run(table, cls, seed: int) -> tuple[list[float], int]:
    """``predictive_defaults.run`` (its protocol, its read-out) with the variant's core."""
    return defaults_run(table, "predictive", {}, seed, core_class=cls)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of: " + ", ".join(VARIANTS))
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    names = [n.strip() for n in a.variants.split(",") if n.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    tables = {k: load_table(v) for k, v in find_tables().items()}
    t0 = time.perf_counter()
    res = {}
    FIRED.clear()  # counts are per call of main
    for name in names:
        for tname, table in tables.items():
            regs, eps = zip(*(run(table, VARIANTS[name][0], s) for s in range(a.seeds)))
            res[name, tname] = (np.mean(regs, axis=0), float(np.mean(eps)), np.asarray(regs, dtype=float))
        print(f"{name}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    text = report(a, names, tables, res, time.perf_counter() - t0)
    return emit(text, a.out)


def paired(res, name: str, tables) -> str:
    """Mean over tables of (variant - default) per seed, then mean ± standard error over seeds."""
    d = np.mean([res[name, t][2] - res["default", t][2] for t in tables], axis=0)  # (seeds, budgets)
    return " / ".join(goals_paired(d[:, j]) for j in range(d.shape[1]))


def report(a, names, tables, res, wall) -> str:
    cell = lambda v: " / ".join(f"{x:.3f}" for x in v)  # noqa: E731
    subset = "" if names == list(VARIANTS) else f" --variants {','.join(names)}"
    runs = a.seeds * len(tables)
    L = ["# `predictive`: variants tried and not adopted", "",
         f"Command: `python benchmarks/predictive_variants.py --seeds {a.seeds}{subset}"
         f"{' --out ' + a.out if a.out else ''}` ({wall / 60:.1f} min on a 2-core x86_64 CPU shared with "
         "other work, single-threaded, no GPU).", "",
         f"Protocol of `predictive_defaults.py`: paired seeds 0..{a.seeds - 1}, finite pools, BOHB's KDE "
         "sampler, 2 simulated workers, cap 1.25 B.  Cells: mean normalised regret over seeds at "
         "0.25 B / 0.5 B / B (1.0 before any trial completes), and the mean epochs spent.  "
         "\"Own rule acted\": how many times, per run, the variant's own rule changed a decision "
         "(only for the variants that count it).  \"Minus default\": the paired difference to the defaults "
         "(same tables and seeds), mean over tables, ± its standard error over seeds; negative is better.", "",
         "## Summary: mean over the tables", "",
         "| variant | question | mean regret | minus default | mean epochs | own rule acted (per run) |",
         "|---|---|---|---|---|---|"]
    for n in names:
        fired = f"{FIRED[n] / runs:.1f}" if n in COUNTED else ""
        L.append(f"| `{n}` | {VARIANTS[n][1]} | {cell(np.mean([res[n, t][0] for t in tables], axis=0))} | "
                 f"{paired(res, n, tables) if 'default' in names and n != 'default' else ''} | "
                 f"{np.mean([res[n, t][1] for t in tables]):.0f} | {fired} |")
    for k in range(0, len(names), 5):
        chunk = names[k:k + 5]
        L += ["", "| table | " + " | ".join(f"`{n}`" for n in chunk) + " |", "|---|" + "---|" * len(chunk)]
        for t in tables:
            L.append(f"| {t} | " + " | ".join(f"{cell(res[n, t][0])} ({res[n, t][1]:.0f} ep)" for n in chunk) + " |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
