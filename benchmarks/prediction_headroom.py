"""How much could prediction pay?  The ``predictive`` core driven by an oracle predictor.

    python benchmarks/prediction_headroom.py --seeds 10 --jobs 2 --out benchmarks/results/prediction_headroom.md

The same core, rungs, sampler and protocol as ``predictive_defaults.py`` (paired seeds, finite
pools, BOHB's KDE sampler, 2 simulated workers, runs capped at 1.25 B epochs), with its stage models
replaced by an oracle that knows each trial's true final loss from the table, optionally blurred by
a fixed Gaussian error per trial of ``sigma`` × (the table's median final − best), the unit of
normalised regret.  This is an experiment, not a method: no scheduler can read the table.  It
separates the two things a predictive scheduler needs:

* **the mechanism** (promote the rung's best predicted finals, stop the hopeless ones): with an
  exact oracle, how low does regret go on these tables?
* **the predictor**: how accurate must it be for the mechanism to pay, and how accurate is ours?
  The last table measures our stage models' error, in the same unit, at every decision the
  predictor rule made: its predicted loss at the decision's horizon (a higher rung, or the final
  epoch) against the trial's true loss there, read from the table.

Oracle modes: ``rank`` ranks every rung by the (blurred) final and promotes the top ``1 / eta``
(ASHA's quota; no stops), at every rung or, to see which cut costs most, at the 1-epoch rung only
or at every rung but that one (our stage models decide the others); ``veto`` also stops a trial
whose (blurred) final does not beat the k-th best of the known finals and the other predicted
ones, as the predictor rule of the core does with a certain prediction.  One more row,
``config-model``, is no oracle: it asks whether the run's own hyperparameters and rung losses could
supply the missing accuracy (:class:`ConfigModelCore`).  ``table-prior`` asks the same of
knowledge from outside the run: a model of the final loss's rank from the shape of a partial curve,
learned from the other tables' curves (:class:`TablePriorCore`).  The ``in-table`` rows bound what
any learned predictor could give: a model of the final loss fitted on the full curves (and, in
``in-table-config``, the hyperparameters) of the other half of the same table (:class:`InTableCore`;
the three live in ``headroom_learned.py``).
Regret is normalised regret after 0.25 B, 0.5 B and B epochs.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from headroom_learned import ConfigModelCore, InTableCore, TablePriorCore, in_table_predictions  # noqa: E402
from predictive_defaults import emit, find_tables, normalised_regrets  # noqa: E402

from hpo.bench.goals import paired  # noqa: E402
from hpo.bench.methods import predictive_parts  # noqa: E402
from hpo.bench.simtime import simulate  # noqa: E402
from hpo.bench.table import load_table, regret_scale  # noqa: E402
from hpo.schedulers.brackets import hyperband_epochs  # noqa: E402
from hpo.schedulers.predictive import DEFAULTS, PredictiveCore, rung_loss  # noqa: E402

# name -> (oracle mode or None for the real core, sigma, core options, what the row asks)
SETTINGS = {
    "default": (None, 0.0, {}, "the shipped defaults, our stage models (the reference row)"),
    "predictor-off": (None, 0.0, {"min_pairs": 10 ** 9}, "ASHA's rank rule on the same rungs (never trusted)"),
    "oracle-rank": ("rank", 0.0, {}, "rank every rung by the exact final loss"),
    "oracle-rank-0.1": ("rank", 0.1, {}, "... with an error of 0.1 per trial"),
    "oracle-rank-0.3": ("rank", 0.3, {}, "... with an error of 0.3 per trial"),
    "oracle-rank-1": ("rank", 1.0, {}, "... with an error of 1.0 per trial"),
    "oracle-rank-first-rung": ("rank-first", 0.0, {},
                               "the exact final ranks the 1-epoch rung only; our models the rest"),
    "oracle-rank-above-first": ("rank-above", 0.0, {}, "the exact final ranks every rung but the 1-epoch one"),
    "oracle-veto": ("veto", 0.0, {}, "rank and stop by the exact final loss"),
    "oracle-veto-0.3": ("veto", 0.3, {}, "... with an error of 0.3 per trial"),
    "config-model": ("config", 0.0, {}, "no oracle: the run's own hyperparameters and rung losses rank the "
                     "lower rungs (a tree model of the loss at a higher rung)"),
    "table-prior": ("prior", 0.0, {}, "no oracle: a prior learned from the other tables' curves "
                    "(leave-one-table-out) ranks every rung but the 1-epoch one where the rank rule would"),
    "in-table-curve": ("in-table", 0.0, {"features": "curve", "first_rung": False},
                       "a ceiling, not a method: a model learned from the full curves of the other half of "
                       "the same table predicts the final loss from the partial curve; it ranks every rung "
                       "but the 1-epoch one"),
    "in-table-config": ("in-table", 0.0, {"features": "curve+config", "first_rung": True},
                        "... from the partial curve and the hyperparameters; it ranks every rung"),
}


class RowRecorder:
    """The run's searcher, recording which table row each trial trains (for the oracle, the config
    model and the measurement of our predictor's error; the cores never see rows otherwise)."""

    def __init__(self, source):
        self.source, self.rows = source, {}

    def suggest(self, trial_id):
        out = self.source.suggest(trial_id)
        if out is not None:
            self.rows[trial_id] = int(out["row"])
        return out

    def __getattr__(self, name):
        return getattr(self.source, name)


class OracleCore(PredictiveCore):
    """``PredictiveCore`` whose every rung is ranked (``rank``), or ranked and vetoed (``veto``), by
    the table's true final loss of each trial plus a fixed Gaussian error of ``sigma`` × scale."""

    mode, sigma = "rank", 0.0

    def attach(self, table, rows: dict, seed: int) -> None:
        self.table, self.rows = table, rows
        self.scale = regret_scale(table)[1]
        self.rng, self.error = np.random.default_rng([seed, 11]), {}

    def _final(self, trial_id: str) -> float:
        if trial_id not in self.error:
            self.error[trial_id] = float(self.rng.standard_normal()) * self.sigma * self.scale
        return self.table.final_loss(self.rows[trial_id]) + self.error[trial_id]

    def _oracle_at(self, j: int) -> bool:
        return {"rank-first": j == 0, "rank-above": j > 0}.get(self.mode, True)

    def _horizon(self, j):
        if not self._oracle_at(j):
            return super()._horizon(j)
        return len(self.stages) if self.mode == "veto" else j

    def _ranked(self, j, h):
        if not self._oracle_at(j):
            return super()._ranked(j, h)
        out = []
        for pos, t in enumerate(self.members[j]):
            f = self._final(t) if math.isfinite(self.loss_at(t, self.rung_epochs[j])) else math.inf
            out.append((f, pos, t, (f, 1e-12) if self.mode == "veto" and math.isfinite(f) else None))
        out.sort(key=lambda r: (r[0], r[1]))
        return [(key, t, pred) for key, _, t, pred in out]


def run(name: str, table_path: str, seed: int) -> tuple[list[float], int, list[float], int]:
    """Regrets at the budget fractions, epochs spent, the normalised errors of the core's
    predictor-rule decisions at their horizons, and the number of its other decisions (rank rule,
    top-k end game); no decisions are counted for the oracles."""
    mode, sigma, opts, _ = SETTINGS[name]
    table = load_table(table_path)
    R, B = table.max_epochs, hyperband_epochs(table.max_epochs, 2)
    if mode is None:
        cls = None
    elif mode == "config":
        cls = ConfigModelCore
    elif mode == "prior":
        cls = TablePriorCore
    elif mode == "in-table":
        cls, opts = type("InTable", (InTableCore,), dict(opts)), {}  # its settings are class attributes
    else:
        cls = type("Oracle", (OracleCore,), {"mode": mode, "sigma": sigma})
    core, source = predictive_parts(table, seed=seed, max_epochs=R, n_trials=table.n_rows, replace=False,
                                    options=opts, core_class=cls)
    source = RowRecorder(source)
    if cls is not None:
        core.attach(table, source.rows, seed)
    r = simulate(core, table, source, max_epochs=R, n_trials=table.n_rows, workers=2, epoch_cap=int(1.25 * B))
    scale = regret_scale(table)[1]
    errors, n_rank = [], 0
    decisions = core.decision_log() if cls is None else []  # only the shipped core's predictor is measured
    for d in decisions:
        if d["rule"] == "predictor":  # the truth at the decision's horizon, as the stage models see losses
            curve = table.curves[source.rows[d["trial_id"]]]
            truth = float(curve[-1]) if d["target"] == R else rung_loss(list(curve), d["target"])
            errors.append((d["target"] == R, (d["predicted"] - truth) / scale))
        else:
            n_rank += 1
    return normalised_regrets(table, r, B), r.epochs, errors, n_rank


def _cell(args):
    name, tname, path, seeds = args
    out = [run(name, path, s) for s in range(seeds)]
    return name, tname, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated subset of: " + ", ".join(SETTINGS))
    p.add_argument("--jobs", type=int, default=1, help="processes (results do not depend on it)")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    names = [n.strip() for n in a.settings.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        p.error(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(SETTINGS)}")
    tables = find_tables()
    if not tables:
        p.error("no learning-curve tables found (see predictive_defaults.find_tables)")
    t0 = time.perf_counter()
    jobs = [(n, t, path, a.seeds) for n in names for t, path in tables.items()]
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs) as pool:
            done = list(pool.map(_cell, jobs))
    else:
        done = [_cell(j) for j in jobs]
    res = {(n, t): out for n, t, out in done}
    return emit(report(a, names, list(tables), res, time.perf_counter() - t0), a.out)


def _regrets(res, n, t) -> np.ndarray:
    return np.array([r[0] for r in res[n, t]], dtype=float)  # (seeds, budgets)


def report(a, names, tables, res, wall) -> str:
    cell = lambda v: " / ".join(f"{x:.3f}" for x in v)  # noqa: E731
    mean = {n: np.mean([_regrets(res, n, t).mean(axis=0) for t in tables], axis=0) for n in names}
    L = ["# How much could prediction pay? The `predictive` core with an oracle predictor", "",
         f"Command: `python benchmarks/prediction_headroom.py --seeds {a.seeds}"
         f"{' --settings ' + ','.join(names) if names != list(SETTINGS) else ''} --jobs {a.jobs}"
         f"{' --out ' + a.out if a.out else ''}` ({wall / 60:.1f} min on a 2-core x86_64 CPU, no GPU).", "",
         __doc__.split("\n\n", 2)[2].strip(), "",
         "## Mean over the tables", "",
         "Regret after 0.25 B / 0.5 B / B epochs; \"minus default\" is the paired difference (per seed, "
         "mean over tables), mean ± standard error over seeds; negative is better.", "",
         "| setting | what it asks | mean regret | minus default | mean epochs |", "|---|---|---|---|---|"]
    for n in names:
        diff = ""
        if "default" in names and n != "default":
            d = np.mean([_regrets(res, n, t) - _regrets(res, "default", t) for t in tables], axis=0)
            diff = " / ".join(paired(d[:, j]) for j in range(d.shape[1]))
        eps = np.mean([np.mean([r[1] for r in res[n, t]]) for t in tables])
        L.append(f"| `{n}` | {SETTINGS[n][3]} | {cell(mean[n])} | {diff} | {eps:.0f} |")
    for k in range(0, len(names), 4):
        chunk = names[k:k + 4]
        L += ["", "| table | " + " | ".join(f"`{n}`" for n in chunk) + " |", "|---|" + "---|" * len(chunk)]
        for t in tables:
            L.append(f"| {t} | " + " | ".join(cell(_regrets(res, n, t).mean(axis=0)) for n in chunk) + " |")
    if "default" in names:
        L += ["", "## Our predictor's error where it decided", "",
              "Default run, all seeds: the predictor rule's decisions (promotions and stops) and their error, "
              "(predicted − true loss at the decision's horizon) / (median − best final), as RMS / median "
              "absolute / mean (bias), split by horizon; \"other\" counts the rank rule's and the top-k end "
              "game's decisions.  Only the final-horizon errors are in the oracle's unit (an error on the "
              "final loss); the losses at a rung horizon spread more than the finals do.", "",
              "| table | final horizon: decisions | its error | rung horizon: decisions | its error | other |",
              "|---|---|---|---|---|---|"]
        for t in tables:
            errs = [x for r in res["default", t] for x in r[2]]
            cols = []
            for final in (True, False):
                e = np.array([v for f, v in errs if f == final], dtype=float)
                cols += [str(len(e)), f"{np.sqrt(np.mean(e ** 2)):.2f} / {np.median(np.abs(e)):.2f} / "
                                      f"{e.mean():+.2f}" if len(e) else ""]
            L.append(f"| {t} | " + " | ".join(cols) + f" | {sum(r[3] for r in res['default', t])} |")
    ceilings = [n for n in names if SETTINGS[n][0] == "in-table"]
    if ceilings:
        L += ["", "## The in-table ceiling's error on the best configurations", "",
              "Its cross-fitted predictions (seed 0's halves) of the final loss of the table's best tenth of "
              "rows (by final loss), at each rung m: (predicted − true final) / (median − best final), as "
              "RMS / mean (bias).  A positive bias: the best configurations look worse than they are.", "",
              "| table | " + " | ".join(f"`{n}`" for n in ceilings) + " |", "|---|" + "---|" * len(ceilings)]
        for t, path in find_tables().items():
            if t in tables:
                L.append(f"| {t} | " + " | ".join(_top_error(path, SETTINGS[n][2]["features"]) for n in ceilings) + " |")
    return "\n".join(L) + "\n"


def _top_error(path: str, features: str) -> str:
    table = load_table(path)
    final, scale = table.curves[:, -1], regret_scale(table)[1]
    top = final <= np.quantile(final, 0.1)
    pred = in_table_predictions(path, DEFAULTS["eta"], features, 0)  # the rungs of the cores measured
    return "; ".join(f"m={m}: {np.sqrt(np.mean(((pred[m] - final)[top] / scale) ** 2)):.2f} / "
                     f"{np.mean((pred[m] - final)[top] / scale):+.2f}" for m in sorted(pred))


if __name__ == "__main__":
    sys.exit(main())
