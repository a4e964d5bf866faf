"""``predictive``: asynchronous successive halving whose promotions follow calibrated
learning-curve predictions.

Mechanics: ASHA's promotion form (Li et al., MLSys 2020, Algorithm 2), with no bracket barriers.
A trial PAUSEs at each rung.  A free worker resumes the best promotable paused trial, looking at
the rungs from the top down; if none is promotable it starts a new trial.  The rungs are
geometric *from the top*, as Hyperband's budgets (Li et al., JMLR 2018): ``round(R / eta**i)``
for ``i = 1, 2, ...`` down to 1 epoch.  So the last promotion trains a trial from ``R / eta`` to
``R``, and the first rung is always 1 epoch.

The prediction rule is probabilistic early stopping (Domhan, Springenberg, Hutter, IJCAI 2015;
Adriaensen et al., LC-PFN, NeurIPS 2023).  A stage model per rung
(:mod:`hpo.schedulers.predictive_model`) learns from every trial that climbs a rung, and is trusted
only once its online conformal calibration holds.  When a worker looks at rung ``j``:

1. ``h`` is the furthest rung (or the final epoch) up to which every stage from ``j`` is trusted;
2. if ``h > j`` (**predictor rule**), each paused trial at ``j`` gets its chained prediction
   ``(mu, sigma)`` of the loss at ``h``.  The rung is ranked by ``mu``, and a trial in the rung's top
   ``floor(n_j / eta)`` is promoted only if ``p = Phi((ref - mu) / sigma) >= threshold``.  Here
   ``ref`` is the ``k``-th best loss at ``h``: at the final epoch, of the observed finals and the
   other live trials' predicted finals; at a rung, of the losses observed there.  A trial below the
   threshold is stopped (``Outcome.STOPPED_PREDICTOR``).  With fewer than ``k`` competitors, ``p = 1``;
3. otherwise (**rank rule**) the rung is ranked by its observed losses, as ASHA does.

When no trial is pending or running and none is promotable, the best paused trial of the highest
rung goes on while fewer than ``k`` trials have completed (``rule="top_k"``: a small pool still
ends with its top-k known); then the trials still paused are stopped (``Outcome.NOT_PROMOTED``).
Every promotion and every stop is logged (``decision_log()``) with the rule that made it.  The defaults were chosen by leave-one-table-out over eleven curve tables
(``benchmarks/predictive_defaults.py``, ``benchmarks/results/predictive_defaults.md``).
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Mapping, Sequence

from hpo.protocols import CONTINUE, PAUSE, Decision, Outcome, StopReason

from .base import CoreBase
from .predictive_model import Stage, affine_chain, chain

# leave-one-table-out choice (benchmarks/results/predictive_defaults.md)
DEFAULTS = {"eta": 3, "k": 5, "threshold": 0.05, "min_pairs": 10, "min_calib": 8, "min_coverage": 0.8}
_FLOAT_KEYS = ("loss", "predicted", "sigma", "reference", "p")


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def beat_probability(mu: float, sigma: float, ref: float) -> float:
    """``P(loss < ref)`` for a predicted loss ``N(mu, sigma^2)`` (``sigma = 0``: 1 or 0)."""
    return _norm_cdf((ref - mu) / sigma) if sigma > 0 else float(mu < ref)


def _num(v: float) -> Any:
    return v if math.isfinite(v) else str(v)


def rung_loss(curve: Sequence[float], epoch: int) -> float:
    """The loss a stage model sees for a trial at ``epoch``: the median of the finite losses among
    the last 3 epochs up to it (``inf`` if there are none)."""
    c = [v for v in curve[max(0, epoch - 3):epoch] if math.isfinite(v)]
    return statistics.median(c) if c else math.inf


def top_down_rungs(max_epochs: int, eta: int) -> list[int]:
    """``round(R / eta**i)`` for ``i >= 1`` down to 1 epoch, ascending and without repeats."""
    out, i = set(), 1
    while True:
        r = max(1, int(round(max_epochs / eta ** i)))
        if r < max_epochs:
            out.add(r)
        if r == 1:
            return sorted(out)
        i += 1


class PredictiveCore(CoreBase):
    kind = "predictive"
    uses_pause = True

    def __init__(self, max_epochs: int, eta: int = DEFAULTS["eta"], k: int = DEFAULTS["k"],
                 threshold: float = DEFAULTS["threshold"], min_pairs: int = DEFAULTS["min_pairs"],
                 min_calib: int = DEFAULTS["min_calib"], min_coverage: float = DEFAULTS["min_coverage"]):
        super().__init__(max_epochs)
        if eta < 2 or k < 1 or not 0.0 <= threshold < 1.0 or min_pairs < 3 or min_calib < 1 \
                or not 0.0 <= min_coverage <= 1.0:
            raise ValueError(f"bad predictive options eta={eta}, k={k}, threshold={threshold}, "
                             f"min_pairs={min_pairs}, min_calib={min_calib}, min_coverage={min_coverage}")
        self.eta, self.k, self.threshold = int(eta), int(k), float(threshold)
        self.min_pairs, self.min_calib, self.min_coverage = int(min_pairs), int(min_calib), float(min_coverage)
        self.rung_epochs = top_down_rungs(self.max_epochs, self.eta)
        self.stages = [Stage(self.min_pairs, self.min_calib, self.min_coverage) for _ in self.rung_epochs]
        self.members: list[list[str]] = [[] for _ in self.rung_epochs]  # arrival order per rung
        self.at: dict[str, list[list[float]]] = {}  # trial -> per reached rung [z, f, mu1, s1]
        self.predicted: dict[str, float] = {}  # trial -> latest predicted final (live trials)
        self.finals: list[float] = []  # observed final losses of completed trials
        self.rung_log: list[dict[str, Any]] = []  # one record per promotion or stop

    # ---- features --------------------------------------------------------------------------
    def _z(self, trial_id: str, epoch: int) -> float:
        return rung_loss(self.curves[trial_id], epoch)

    def _family(self, trial_id: str, epoch: int, target: int) -> float:
        from predictors.curve_families import extrapolate

        return extrapolate(self.curves[trial_id][:epoch], target)[0]

    def _next_epochs(self, j: int) -> int:
        return self.rung_epochs[j + 1] if j + 1 < len(self.rung_epochs) else self.max_epochs

    # ---- results ---------------------------------------------------------------------------
    def _decide(self, trial_id: str, epoch: int) -> Decision:
        hist = self.at.setdefault(trial_id, [])
        j = len(hist)
        if j >= len(self.rung_epochs) or epoch < self.rung_epochs[j]:
            return CONTINUE
        while j + 1 < len(self.rung_epochs) and epoch >= self.rung_epochs[j + 1]:
            hist.append([math.nan] * 4)  # a skipped rung (the driver skipped epochs)
            self.members[j].append(trial_id)
            j += 1
        m = self.rung_epochs[j]
        z = self._z(trial_id, m)
        if j > 0 and math.isfinite(hist[-1][0]):  # the previous stage learns and is scored
            z0, f0, mu1, s1 = hist[-1]
            self.stages[j - 1].score(mu1, s1, z)
            self.stages[j - 1].add_pair(z0, f0, z)
        f = self._family(trial_id, m, self._next_epochs(j))
        step = self.stages[j].one_step(z, f)
        hist.append([z, f, *(step if step else (math.nan, math.nan))])
        self.members[j].append(trial_id)
        return PAUSE

    def _trial_ended(self, trial_id: str) -> None:
        self.predicted.pop(trial_id, None)
        if self.status[trial_id] != "completed":
            return
        final = self.loss_at(trial_id, self.max_epochs)
        if math.isfinite(final):
            self.finals.append(final)
        hist = self.at.get(trial_id) or []
        if len(hist) == len(self.rung_epochs) and math.isfinite(hist[-1][0]):
            z0, f0, mu1, s1 = hist[-1]  # the last stage maps the top rung to the final loss
            self.stages[-1].score(mu1, s1, final)
            self.stages[-1].add_pair(z0, f0, final)

    # ---- promotions --------------------------------------------------------------------------
    def _horizon(self, j: int) -> int:
        h = j
        while h < len(self.stages) and self.stages[h].trusted():
            h += 1
        return h

    def _reference(self, trial_id: str, h: int) -> float | None:
        """The k-th best loss at horizon ``h``: at the final epoch, of the observed finals and the
        other live trials' predicted finals; at a rung, of the (smoothed) losses observed there."""
        if h == len(self.stages):
            vals = self.finals + [v for t, v in self.predicted.items() if t != trial_id]
        else:
            vals = [self.at[t][h][0] for t in self.members[h] if not math.isnan(self.at[t][h][0])]
        if len(vals) < self.k:
            return None
        vals.sort()
        return vals[self.k - 1]

    def _ranked(self, j: int, h: int) -> list[tuple[float, str, tuple[float, float] | None]]:
        """The members of rung ``j``, best first: by predicted loss at ``h`` when ``h > j``, else
        by the loss observed at the rung (ties: earlier arrival first)."""
        m = self.rung_epochs[j]
        aff = affine_chain(self.stages, j, h) if h > j else None
        out = []
        for pos, t in enumerate(self.members[j]):
            z, f = self.at[t][j][:2]
            pred = None
            if h > j and math.isfinite(z):
                if aff is not None and math.isfinite(f):
                    pred = (aff[0] + aff[1] * z + aff[2] * f, aff[3])
                else:
                    pred = chain(self.stages, j, h, z, f)
            key = pred[0] if pred else self.loss_at(t, m)
            out.append((key if math.isfinite(key) else math.inf, pos, t, pred))
        out.sort(key=lambda r: (r[0], r[1]))
        return [(key, t, pred) for key, _, t, pred in out]

    def _promote_from(self, j: int, free: set[str]) -> str | None:
        h = self._horizon(j)
        ranked = self._ranked(j, h)
        m = self.rung_epochs[j]
        for key, t, pred in ranked[: len(ranked) // self.eta]:
            if t not in free or self.status[t] != "paused" or len(self.at[t]) != j + 1:
                continue
            rec: dict[str, Any] = {"trial_id": t, "rung": m, "epoch": self.epoch(t), "loss": self.loss_at(t, m)}
            if pred is None:
                rec.update(rule="rank", continued=True)
                self.rung_log.append(rec)
                return t
            mu, sigma = pred
            if h == len(self.stages):
                self.predicted[t] = mu
            ref = self._reference(t, h)
            p = 1.0 if ref is None else beat_probability(mu, sigma, ref)
            horizon = self.rung_epochs[h] if h < len(self.rung_epochs) else self.max_epochs
            rec.update(rule="predictor", horizon=horizon, target=horizon, predicted=mu, sigma=sigma,
                       reference=ref, p=p, continued=p >= self.threshold)
            self.rung_log.append(rec)
            if p >= self.threshold:
                return t
            self.predicted.pop(t, None)
            self.stop(t, StopReason(Outcome.STOPPED_PREDICTOR, rung=m, predicted=mu, rule="predictor"))
        return None

    def _top_rung(self, trial_id: str) -> int | None:
        return self.rung_epochs[len(self.at[trial_id]) - 1] if self.at.get(trial_id) else None

    def _complete_top_k(self, free: set[str]) -> str | None:
        """The end game: with nothing left to start and nothing promotable, fewer than ``k``
        completed trials would leave the top-k unknown (a pool smaller than ``eta**levels``).  Then
        the best paused trial of the highest rung that has one goes on (``rule="top_k"``)."""
        if sum(1 for s in self.status.values() if s == "completed") >= self.k:
            return None
        for j in reversed(range(len(self.rung_epochs))):
            h = self._horizon(j)
            for _, t, _ in self._ranked(j, h):
                if t in free and self.status[t] == "paused" and len(self.at[t]) == j + 1:
                    m = self.rung_epochs[j]
                    self.rung_log.append({"trial_id": t, "rung": m, "epoch": self.epoch(t),
                                          "loss": self.loss_at(t, m), "rule": "top_k", "continued": True})
                    return t
        return None

    def _choose(self, runnable: list[str]) -> str | None:
        free = set(runnable)
        for j in reversed(range(len(self.rung_epochs))):
            t = self._promote_from(j, free)
            if t is not None:
                return t
        t = self._first_pending(runnable)
        if t is None and self._wound_down(free):
            t = self._complete_top_k(free)
            if t is None:
                self._stop_unpromoted(runnable, self._top_rung)
        return t

    # ---- Diagnostics -------------------------------------------------------------------------
    def decision_log(self) -> list[dict[str, Any]]:
        return list(self.rung_log)

    def predictor_fit_seconds(self) -> list[float]:
        return [s for st in self.stages for s in st.fit_seconds]

    def run_notes(self) -> list[str]:
        by_rule = {r: sum(1 for d in self.rung_log if d["rule"] == r) for r in ("rank", "predictor", "top_k")}
        extra = (f"; {by_rule['top_k']} promotions at the end so that the top-k completed"
                 if by_rule["top_k"] else "")
        if self.rung_log and not by_rule["predictor"]:
            return [f"predictive: the predictor never earned trust ({by_rule['rank']} promotions, all by "
                    f"ASHA's rank rule): this run was ASHA with promotions{extra}"]
        return [f"predictive: {by_rule['predictor']} decisions by the predictor, {by_rule['rank']} by the "
                f"rank rule{extra}"] if self.rung_log else []

    # ---- state ---------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        return {"eta": self.eta, "k": self.k, "threshold": self.threshold, "min_pairs": self.min_pairs,
                "min_calib": self.min_calib, "min_coverage": self.min_coverage}

    def get_state(self) -> dict[str, Any]:
        st = self.base_state()
        st.update(options=self.options(), stages=[s.get_state() for s in self.stages], members=self.members,
                  at={t: [[_num(v) for v in row] for row in h] for t, h in self.at.items()},
                  predicted=[_num(v) for v in self.predicted.values()],
                  predicted_ids=list(self.predicted), finals=self.finals,
                  decisions=[{k: _num(v) if isinstance(v, float) else v for k, v in d.items()}
                             for d in self.rung_log])
        return st

    def set_state(self, state: Mapping[str, Any]) -> None:
        if dict(state.get("options", {})) != self.options():
            raise ValueError(f"predictive state was saved with options {state.get('options')}, "
                             f"this core has {self.options()}")
        self.set_base_state(state)
        for s, ss in zip(self.stages, state["stages"]):
            s.set_state(ss)
        self.members = [list(m) for m in state["members"]]
        self.at = {t: [[float(v) for v in row] for row in h] for t, h in state["at"].items()}
        self.predicted = dict(zip(state["predicted_ids"], (float(v) for v in state["predicted"])))
        self.finals = [float(v) for v in state["finals"]]
        self.rung_log = [{k: float(v) if k in _FLOAT_KEYS and v is not None else v for k, v in d.items()}
                         for d in state["decisions"]]
