"""``predictive``: asynchronous early stopping from calibrated learning-curve predictions.

The decision rule is probabilistic early stopping (Domhan, Springenberg, Hutter, IJCAI 2015;
Adriaensen et al., LC-PFN, NeurIPS 2023): stop a trial when the predicted probability that its
final loss beats the current top-``k`` falls below ``threshold``.  The rungs and the fallback are
ASHA's (Li et al., MLSys 2020): geometric rungs at ``1, eta, eta^2, ... < max_epochs``, no
brackets, no pauses.  The predictor (:mod:`hpo.schedulers.predictive_model`) learns from every
curve the run has seen and must earn trust through online conformal calibration.

When a trial reaches rung ``j`` (loss ``z`` = median of its last 3 epochs there):

1. its family extrapolation ``f`` to the next rung is computed once
   (:func:`predictors.curve_families.extrapolate`), and its arrival gives stage ``j - 1`` a training
   pair and scores that stage's one-step prediction for it (calibration);
2. the *horizon* ``h`` is the furthest rung (or the final epoch) up to which every stage from
   ``j`` is trusted (``min_pairs`` pairs, ``min_calib`` scored residuals, recent 90 % intervals
   covering >= ``min_coverage``).  If ``h > j`` the **predictor rule** applies: ``(mu, sigma)`` =
   chained prediction of the trial's loss at ``h``; ``ref`` = the ``k``-th best loss at ``h`` —
   at the final epoch, of the observed finals and the other live trials' predicted finals, at an
   intermediate rung, of the losses observed there; the trial stops (``Outcome.STOPPED_PREDICTOR``,
   ``rule="predictor"``) iff ``Phi((ref - mu) / sigma) < threshold``; with fewer than ``k``
   competitors it continues.  Completed curves are few early in a run (every completion costs
   ``max_epochs``), so the horizon is usually an intermediate rung at first and reaches the final
   epoch once the last stage has earned trust;
3. otherwise the **rank rule**: Ray's ASHA cutoff (:func:`hpo.schedulers.asha.rank_cutoff`, the
   ``1/eta`` quantile of the rung's earlier losses) — ``Outcome.STOPPED_RUNG``, ``rule="rank"``.

Every rung decision is logged (``decision_log()``) with the rule that made it, its prediction,
reference and probability.  The defaults were chosen by leave-one-table-out over eleven curve
tables (``benchmarks/predictive_defaults.py``, ``benchmarks/results/predictive_defaults.md``).
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Mapping

from hpo.protocols import CONTINUE, STOP, Decision, Outcome, StopReason

from .asha import rank_cutoff
from .base import CoreBase, json_floats
from .predictive_model import Stage, chain

# leave-one-table-out choice (benchmarks/results/predictive_defaults.md): eta=2 k=5 thr=0.1 trust=strict
DEFAULTS = {"eta": 2, "k": 5, "threshold": 0.1, "min_pairs": 10, "min_calib": 8, "min_coverage": 0.8}


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _num(v: float) -> Any:
    return v if math.isfinite(v) else str(v)


class PredictiveCore(CoreBase):
    kind = "predictive"
    uses_pause = False

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
        self.rung_epochs: list[int] = []
        m = 1
        while m < self.max_epochs:
            self.rung_epochs.append(m)
            m *= self.eta
        self.stages = [Stage(self.min_pairs, self.min_calib, self.min_coverage) for _ in self.rung_epochs]
        self.rungs: dict[int, list[float]] = {m: [] for m in self.rung_epochs}  # losses, arrival order
        self.at: dict[str, list[list[float]]] = {}  # trial -> per reached rung [z, f, mu1, s1]
        self.predicted: dict[str, float] = {}  # trial -> latest predicted final (live trials)
        self.finals: list[float] = []  # observed final losses of completed trials
        self.observed: list[list[float]] = [[] for _ in self.rung_epochs]  # smoothed rung losses
        # one record per rung decision (``decision_log()``)
        self.rung_log: list[dict[str, Any]] = []

    # ---- features --------------------------------------------------------------------------
    def _z(self, trial_id: str, epoch: int) -> float:
        c = [v for v in self.curves[trial_id][max(0, epoch - 3):epoch] if math.isfinite(v)]
        return statistics.median(c) if c else math.inf

    def _family(self, trial_id: str, epoch: int, target: int) -> float:
        from predictors.curve_families import extrapolate

        return extrapolate(self.curves[trial_id][:epoch], target)[0]

    # ---- decisions -------------------------------------------------------------------------
    def _decide(self, trial_id: str, epoch: int) -> Decision:
        hist = self.at.setdefault(trial_id, [])
        j = len(hist)
        if j >= len(self.rung_epochs) or epoch < self.rung_epochs[j]:
            return CONTINUE
        while j + 1 < len(self.rung_epochs) and epoch >= self.rung_epochs[j + 1]:
            hist.append([math.nan] * 4)  # a skipped rung (the driver skipped epochs)
            j += 1
        m = self.rung_epochs[j]
        z = self._z(trial_id, m)
        if j > 0 and math.isfinite(hist[-1][0]):  # the previous stage learns and is scored
            z0, f0, mu1, s1 = hist[-1]
            self.stages[j - 1].score(mu1, s1, z)
            self.stages[j - 1].add_pair(z0, f0, z)
        nxt = self.rung_epochs[j + 1] if j + 1 < len(self.rung_epochs) else self.max_epochs
        f = self._family(trial_id, m, nxt)
        step = self.stages[j].one_step(z, f)
        hist.append([z, f, *(step if step else (math.nan, math.nan))])
        prior = self.rungs[m]
        cutoff = rank_cutoff(prior, self.eta)
        prior.append(self.loss_at(trial_id, m))
        self.observed[j].append(z)
        h = j
        while h < len(self.stages) and self.stages[h].trusted():
            h += 1
        pred = chain(self.stages, j, h, z, f) if h > j else None
        if pred is not None and h == len(self.stages):
            self.predicted[trial_id] = pred[0]
        rec: dict[str, Any] = {"trial_id": trial_id, "rung": m, "epoch": epoch, "loss": self.loss_at(trial_id, m)}
        if pred is None:
            stop = not self.loss_at(trial_id, m) <= cutoff
            rec.update(rule="rank", cutoff=cutoff, continued=not stop)
            self.rung_log.append(rec)
            if stop:
                self.stop(trial_id, StopReason(Outcome.STOPPED_RUNG, rung=m, rule="rank"))
                self.predicted.pop(trial_id, None)
                return STOP
            return CONTINUE
        mu, sigma = pred
        ref = self._reference(trial_id, h)
        if ref is None:
            p = 1.0
        elif sigma <= 0:
            p = 1.0 if mu < ref else 0.0
        else:
            p = _norm_cdf((ref - mu) / sigma)
        stop = p < self.threshold
        horizon = self.rung_epochs[h] if h < len(self.rung_epochs) else self.max_epochs
        rec.update(rule="predictor", horizon=horizon, target=horizon, predicted=mu, sigma=sigma, reference=ref, p=p,
                   continued=not stop)
        self.rung_log.append(rec)
        if stop:
            self.stop(trial_id, StopReason(Outcome.STOPPED_PREDICTOR, rung=m, predicted=mu, rule="predictor"))
            self.predicted.pop(trial_id, None)
            return STOP
        return CONTINUE

    def _reference(self, trial_id: str, h: int) -> float | None:
        """The k-th best loss at horizon ``h``: at the final epoch, of the observed finals and the
        other live trials' predicted finals; at a rung, of the (smoothed) losses observed there."""
        if h == len(self.stages):
            vals = self.finals + [v for t, v in self.predicted.items() if t != trial_id]
        else:
            vals = list(self.observed[h])
        if len(vals) < self.k:
            return None
        vals.sort()
        return vals[self.k - 1]

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

    # ---- Diagnostics -------------------------------------------------------------------------
    def decision_log(self) -> list[dict[str, Any]]:
        return list(self.rung_log)

    def predictor_fit_seconds(self) -> list[float]:
        return [s for st in self.stages for s in st.fit_seconds]

    def run_notes(self) -> list[str]:
        by_rule = {r: sum(1 for d in self.rung_log if d["rule"] == r) for r in ("rank", "predictor")}
        if self.rung_log and not by_rule["predictor"]:
            return [f"predictive: the predictor never earned trust ({by_rule['rank']} rung decisions, all by "
                    "ASHA's rank rule): this run was ASHA"]
        return [f"predictive: {by_rule['predictor']} decisions by the predictor, {by_rule['rank']} by the "
                "rank rule"] if self.rung_log else []

    # ---- state ---------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        return {"eta": self.eta, "k": self.k, "threshold": self.threshold, "min_pairs": self.min_pairs,
                "min_calib": self.min_calib, "min_coverage": self.min_coverage}

    def get_state(self) -> dict[str, Any]:
        st = self.base_state()
        st.update(options=self.options(), stages=[s.get_state() for s in self.stages],
                  rungs={str(m): [_num(v) for v in r] for m, r in self.rungs.items()},
                  at={t: [[_num(v) for v in row] for row in h] for t, h in self.at.items()},
                  predicted=json_floats({"p": list(self.predicted.values())})["p"],
                  predicted_ids=list(self.predicted), finals=self.finals,
                  observed=[[_num(v) for v in o] for o in self.observed],
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
        self.rungs = {int(m): [float(v) for v in r] for m, r in state["rungs"].items()}
        self.at = {t: [[float(v) for v in row] for row in h] for t, h in state["at"].items()}
        self.predicted = dict(zip(state["predicted_ids"], (float(v) for v in state["predicted"])))
        self.finals = [float(v) for v in state["finals"]]
        self.observed = [[float(v) for v in o] for o in state["observed"]]
        self.rung_log = [{k: float(v) if k in ("loss", "cutoff", "predicted", "sigma", "reference", "p")
                           and v is not None else v for k, v in d.items()} for d in state["decisions"]]
