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
supply the missing accuracy (:class:`ConfigModelCore`).  The last, ``table-prior``, asks the same of
knowledge from outside the run: a model of the final loss's rank from the shape of a partial curve,
learned from the other tables' curves (:class:`TablePriorCore`).
Regret is normalised regret after 0.25 B, 0.5 B and B epochs.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predictive_defaults import emit, find_tables, normalised_regrets  # noqa: E402

from hpo.bench.goals import paired  # noqa: E402
from hpo.bench.methods import predictive_parts  # noqa: E402
from hpo.bench.simtime import simulate  # noqa: E402
from hpo.bench.table import load_table, regret_scale, unit_params  # noqa: E402
from hpo.schedulers.brackets import hyperband_epochs  # noqa: E402
from hpo.schedulers.predictive import PredictiveCore, rung_loss, top_down_rungs  # noqa: E402

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


class ConfigModelCore(PredictiveCore):
    """Not an oracle: what the run's own data could add where the curve says little.  Below the
    highest level (a rung, or the final epoch) that ``min_target`` trials have reached, a rung is
    ranked by an extra-trees model (Geurts et al., Machine Learning 2006) of the loss at that level
    from a trial's hyperparameters and its loss at the rung, fitted on the trials that reached the
    level and refitted when they have grown by 25 %.  The core's own rules decide everything else.
    The hyperparameters come from the table row (the core's protocol carries none)."""

    min_target = 30

    def attach(self, table, rows: dict, seed: int) -> None:
        self.params, self.rows = unit_params(table), rows
        self.level, self.train, self.version, self.models, self.cache = None, [], 0, {}, {}

    def _levels(self):
        done = [(t, self.loss_at(t, self.max_epochs)) for t, s in self.status.items() if s == "completed"]
        yield len(self.rung_epochs), done
        for h in reversed(range(len(self.rung_epochs))):
            yield h, [(t, self.at[t][h][0]) for t in self.members[h]]

    def _x(self, trial_id: str, j: int) -> list[float]:
        return [*self.params[self.rows[trial_id]], self.at[trial_id][j][0]]

    def _ranked(self, j, h):
        level, obs = None, []
        for lv, seen in self._levels():
            seen = [(t, y) for t, y in seen if math.isfinite(y)]
            if len(seen) >= self.min_target:
                level, obs = lv, seen
                break
        if level is None or j >= level:
            return super()._ranked(j, h)
        if level != self.level or len(obs) >= 1.25 * len(self.train):
            self.level, self.train, self.version = level, obs, self.version + 1
        key = (j, self.version)
        if key not in self.models:
            from sklearn.ensemble import ExtraTreesRegressor

            pairs = [(self._x(t, j), y) for t, y in self.train if math.isfinite(self.at[t][j][0])]
            self.models[key] = ExtraTreesRegressor(50, min_samples_leaf=2, random_state=0).fit(
                np.array([x for x, _ in pairs]), np.array([y for _, y in pairs]))
        todo = [t for t in self.members[j] if (t, key) not in self.cache and math.isfinite(self.at[t][j][0])]
        if todo:
            for t, v in zip(todo, self.models[key].predict(np.array([self._x(t, j) for t in todo]))):
                self.cache[t, key] = float(v)
        out = sorted((self.cache.get((t, key), math.inf), pos, t) for pos, t in enumerate(self.members[j]))
        return [(v, t, None) for v, _, t in out]


def rank_features(curves: list, epoch: int) -> np.ndarray:
    """What :class:`TablePriorCore` sees of a rung's cohort of partial curves (``epoch`` losses or
    more each): four rank quantiles within the cohort, scale-free so that tables can share a model:
    the loss at the rung (as the stage models see it), its improvement since epoch ``epoch // 3``,
    the change over the last epoch, and the epoch-1 loss."""
    def q(x):
        return (rankdata(x) - 0.5) / len(x)

    z = np.array([rung_loss(list(c), epoch) for c in curves])
    early = np.array([rung_loss(list(c), max(1, epoch // 3)) for c in curves])
    last = np.array([c[epoch - 1] - c[max(0, epoch - 2)] for c in curves])
    return np.column_stack([q(z), q(z - early), q(last), q([c[0] for c in curves])])


@lru_cache(maxsize=None)
def table_prior(held_out: str, eta: int):
    """Gradient-boosted trees (scikit-learn's histogram GBM; Friedman, Annals of Statistics 2001)
    from :func:`rank_features` to the rank quantile of the final loss, fitted on every row of every
    table but ``held_out``, at each rung above the first of the core's top-down rungs for ``eta``."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = [], []
    for path in find_tables().values():
        if path == held_out:
            continue
        t = load_table(path)
        for m in top_down_rungs(t.max_epochs, eta)[1:]:
            X.append(rank_features(list(t.curves), m))
            y.append((rankdata(t.curves[:, -1]) - 0.5) / t.n_rows)
    return HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                         random_state=0).fit(np.vstack(X), np.concatenate(y))


class TablePriorCore(PredictiveCore):
    """Not an oracle: knowledge from outside the run.  Where the core would rank a rung above the
    first by its observed losses (no trusted stage chain), :func:`table_prior` ranks the rung's
    cohort instead, the prior having been learned from the other tables only.  The 1-epoch rung
    keeps the rank rule: a single epoch has no shape."""

    def attach(self, table, rows: dict, seed: int) -> None:
        self.model = table_prior(table.path, self.eta)

    def _ranked(self, j, h):
        m = self.rung_epochs[j]
        cohort = [(pos, t) for pos, t in enumerate(self.members[j]) if math.isfinite(self.at[t][j][0])]
        if h > j or j == 0 or len(cohort) < 3:
            return super()._ranked(j, h)
        score = self.model.predict(rank_features([self.curves[t][:m] for _, t in cohort], m))
        out = sorted([(float(v), pos, t) for v, (pos, t) in zip(score, cohort)]
                     + [(math.inf, pos, t) for pos, t in enumerate(self.members[j])
                        if not math.isfinite(self.at[t][j][0])])
        return [(v, t, None) for v, _, t in out]


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
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
