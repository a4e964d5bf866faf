"""The learned predictors that ``prediction_headroom.py`` measures beside its oracles.

None of them is an oracle: each ranks a rung's cohort by something it learned, and asks whether
that knowledge could supply the accuracy our stage models lack.

* :class:`ConfigModelCore`: the run's own hyperparameters and rung losses (an in-run model).
* :class:`TablePriorCore`: the shape of partial curves, learned from the other tables' curves.
* :class:`InTableCore`: a ceiling rather than a method.  A model learned from the full curves (and
  hyperparameters) of half of the same table, which no run could have, ranks the rung.
"""
from __future__ import annotations

import math
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predictive_defaults import find_tables  # noqa: E402

from hpo.bench.table import load_table, unit_params  # noqa: E402
from hpo.schedulers.predictive import PredictiveCore, rung_loss, top_down_rungs  # noqa: E402


def ranked_by(members: list, score) -> list[tuple[float, str, None]]:
    """``members`` best first by ``score(trial_id)`` (``math.inf`` for one without a score; ties:
    earlier arrival first), as ``PredictiveCore._ranked`` lists them, without a prediction."""
    out = sorted((score(t), pos, t) for pos, t in enumerate(members))
    return [(v, t, None) for v, _, t in out]


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
        return ranked_by(self.members[j], lambda t: self.cache.get((t, key), math.inf))


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
        cohort = [t for t in self.members[j] if math.isfinite(self.at[t][j][0])]
        if h > j or j == 0 or len(cohort) < 3:
            return super()._ranked(j, h)
        score = self.model.predict(rank_features([self.curves[t][:m] for t in cohort], m))
        prior = {t: float(v) for v, t in zip(score, cohort)}
        return ranked_by(self.members[j], lambda t: prior.get(t, math.inf))


@lru_cache(maxsize=None)
def in_table_predictions(path: str, eta: int, features: str, seed: int) -> dict[int, np.ndarray]:
    """Cross-fitted predictions of every row's final loss at each of the core's rungs for ``eta``.
    The rows are split in two halves at random (``seed``); each half is predicted by extremely
    randomised trees (Geurts et al., Machine Learning 2006) fitted on the other half's full curves,
    from the partial curve up to the rung (``features`` "curve") and, with "curve+config", the
    row's hyperparameters too.  The trees learn the change from the loss at the rung to the final
    loss, so that within a leaf the rung's own order survives.  No run holds that many complete
    curves of its own problem: this bounds what learning from them could give."""
    from sklearn.ensemble import ExtraTreesRegressor

    t = load_table(path)
    fold = np.random.default_rng([seed, 17]).permutation(t.n_rows) % 2
    params, final = unit_params(t), t.curves[:, -1]
    out = {}
    for m in top_down_rungs(t.max_epochs, eta):
        x = np.hstack([t.curves[:, :m]] + ([params] if features == "curve+config" else []))
        change, pred = final - t.curves[:, m - 1], np.empty(t.n_rows)
        for f in (0, 1):
            model = ExtraTreesRegressor(100, min_samples_leaf=3, random_state=seed)
            pred[fold == f] = model.fit(x[fold != f], change[fold != f]).predict(x[fold == f])
        out[m] = pred + t.curves[:, m - 1]
    return out


class InTableCore(PredictiveCore):
    """A ceiling on learned prediction, not a method: a rung is ranked by the predicted final
    losses of :func:`in_table_predictions` and ASHA's quota promoted, with no stops.  With
    ``first_rung`` False the 1-epoch rung keeps the core's own rule (a curve of one epoch is one
    number, and a model of it only reorders the rank rule)."""

    features, first_rung = "curve", True

    def attach(self, table, rows: dict, seed: int) -> None:
        self.pred, self.rows = in_table_predictions(table.path, self.eta, self.features, seed), rows

    def _acts(self, j: int) -> bool:
        return j > 0 or self.first_rung

    def _horizon(self, j):
        return j if self._acts(j) else super()._horizon(j)

    def _ranked(self, j, h):
        if not self._acts(j):
            return super()._ranked(j, h)
        pred = self.pred[self.rung_epochs[j]]
        return ranked_by(self.members[j], lambda t: float(pred[self.rows[t]])
                         if math.isfinite(self.at[t][j][0]) else math.inf)
