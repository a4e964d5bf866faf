"""Swift-Hyperband: Hyperband with one predictor-driven decision point per round.

García Amboage, Wulff, Girone, Pena, "Model Performance Prediction for Hyperparameter
Optimization of Deep Learning Models Using High Performance Computing and Quantum Annealing",
EPJ Web Conf. 295, 12005 (CHEP 2023); Wulff, García Amboage et al., "Distributed hybrid
quantum-classical performance prediction for hyperparameter optimization", Quantum Machine
Intelligence 6, 59 (2024).  Semantics follow the published workflow (see
``/work/shared/docs/swift-hyperband-qsvr.md`` §1.3); the code is our own.

Round ``i`` of a bracket (trials resumed at ``r_prev``, round budget ``r_i``, ``n_next`` survivors):

1. every trial trains to the decision epoch ``e = r_prev + ceil(kc * (r_i - r_prev))``;
2. when a trial reaches ``e`` it becomes a *reference* trial (trained on to ``r_i``) while fewer
   than ``k * n_next`` have been sent on, or while the curves at ``r_i`` (pooled over all
   brackets, in-flight reference trials included) number fewer than ``d``; otherwise it waits at
   ``e`` (*partial*);
3. once the round's reference trials are done, a predictor for ``(r_i, e)`` is fitted on the pooled
   curves (features: losses of epochs ``1..e``; target: loss at ``r_i``) if none exists yet (or on
   every barrier with ``refit=True``);
4. threshold = ``q``-quantile of the reference trials' losses at ``r_i``;
5. a partial trial continues to ``r_i`` iff its predicted loss is below the threshold; if fewer
   than ``n_next`` trials would reach ``r_i``, the best-predicted partial trials are added; the
   others stop (``Outcome.STOPPED_PREDICTOR``, loss +inf for the rung);
6. the usual successive-halving cut at ``r_i``.

``d`` scales with the run: the core uses ``d_eff = min(d, max(2, n_max // eta))`` curves, where
``n_max`` is the size of Hyperband's largest bracket.  ``n_max // eta`` is the number of trials that
survive that bracket's first cut, so some of its first-round trials are always left for the
predictor to judge.  With the default ``d = 15`` nothing changes for R = 100 (``n_max = 64``), while
for R = 12, eta = 2 (``n_max = 8``) ``d_eff = 4`` and the predictor fires; with a fixed ``d = 15``
every trial of every round became a reference trial and no prediction was ever made.  A lowered
``d`` is noted in ``notes()``; so is a run that ends without one predictor decision.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping

import numpy as np

from hpo.protocols import Outcome, Predictor, StopReason

from .base import json_floats
from .brackets import bracket_size, s_max
from .hyperband import HyperbandCore
from .successive_halving import SHBracket


class CurvePool:
    """Full curves at each rung budget, pooled across brackets, and the fitted predictors."""

    def __init__(self, factory: Callable[[], Predictor], d: int, refit: bool):
        self.factory, self.d, self.refit = factory, d, refit
        self.curves: dict[int, list[list[float]]] = {}
        self.models: dict[tuple[int, int], Any] = {}
        self.fitted_on: dict[tuple[int, int], int] = {}  # (r, e) -> number of curves used
        self.fit_log: list[tuple[int, int, int]] = []
        self.fit_seconds: list[float] = []  # wall time of each fit (monitoring; not state)

    def count(self, r: int) -> int:
        return len(self.curves.get(r, []))

    def add(self, r: int, curve: list[float]) -> None:
        self.curves.setdefault(r, []).append([float(x) for x in curve[:r]])

    def model(self, r: int, e: int):
        key = (r, e)
        have = self.count(r)
        stale = key in self.models and self.refit and have > self.fitted_on[key]
        if (key not in self.models or stale) and have >= self.d:
            self._fit(key, have)
        return self.models.get(key)

    def _fit(self, key: tuple[int, int], n: int) -> None:
        r, e = key
        data = np.asarray(self.curves[r][:n], dtype=float)
        model = self.factory()
        t0 = time.perf_counter()
        model.fit(data[:, :e], data[:, r - 1])
        self.fit_seconds.append(time.perf_counter() - t0)
        self.models[key], self.fitted_on[key] = model, n
        self.fit_log.append((r, e, n))

    def get_state(self) -> dict[str, Any]:
        return {"curves": {str(r): [json_floats({"c": c})["c"] for c in cs] for r, cs in self.curves.items()},
                "fitted_on": [[r, e, n] for (r, e), n in self.fitted_on.items()],
                "fit_log": [list(x) for x in self.fit_log]}

    def set_state(self, st: Mapping[str, Any]) -> None:
        self.curves = {int(r): [list(map(float, c)) for c in cs] for r, cs in st["curves"].items()}
        self.models, self.fitted_on = {}, {}
        for r, e, n in st["fitted_on"]:  # refit from the same curves (predictors are not JSON)
            self._fit((int(r), int(e)), int(n))
        self.fit_log = [tuple(x) for x in st["fit_log"]]


def max_bracket(max_epochs: int, eta: int) -> int:
    return bracket_size(s_max(max_epochs, eta), s_max(max_epochs, eta), eta)


def effective_d(d: int, max_epochs: int, eta: int) -> int:
    """Curves needed before a predictor is fitted: ``min(d, max(2, n_max // eta))``."""
    return min(int(d), max(2, max_bracket(max_epochs, eta) // eta))


class SwiftBracket(SHBracket):
    continue_across_rounds = False  # reference trials are the first dispatched of each round

    def __init__(self, core, index, s, n, rungs, eta):
        super().__init__(core, index, s, n, rungs, eta)
        self._round_started()

    def _round_started(self) -> None:
        self.phase = 1
        self.roles: dict[str, str] = {t: "partial" for t in self.order}
        self.n_ref_sent = 0
        self.n_ref_done = 0
        # A trial told to PAUSE may report an epoch or more before Tune has saved it, so a survivor
        # can already stand at (or past) this round's decision epoch: give it its role now, else it
        # waits there for a progress report that never comes.
        for t in self.order:
            if self.core.alive(t) and self.core.epoch(t) > self.r_prev:
                self.on_progress(t, self.core.epoch(t))

    def _joined(self, trial_id: str) -> None:
        self.roles[trial_id] = "partial"

    @property
    def decision_epoch(self) -> int:
        return self.r_prev + math.ceil(self.core.kc * (self.r_i - self.r_prev))

    @property
    def n_next(self) -> int:
        return len(self.order) // self.eta if self.round < self.s else 1

    def target(self, trial_id: str) -> int:
        role = self.roles.get(trial_id)
        if role is None:
            return 0
        return self.decision_epoch if role in ("partial", "part", "drop") else self.r_i

    def on_progress(self, trial_id: str, epoch: int) -> None:
        c, pool = self.core, self.core.pool
        if self.roles[trial_id] == "partial" and epoch >= self.decision_epoch:
            missing = c.d_eff - pool.count(self.r_i)
            if self.n_ref_sent < c.k * self.n_next or self.n_ref_sent - self.n_ref_done < missing:
                self.roles[trial_id] = "ref"
                self.n_ref_sent += 1
            else:
                self.roles[trial_id] = "part"
        if self.roles[trial_id] == "ref" and epoch >= self.r_i:
            self.roles[trial_id] = "ref_done"
            self.n_ref_done += 1
            pool.add(self.r_i, c.curves[trial_id])

    def _step(self) -> bool:
        c = self.core
        if self.phase == 1:
            settled = ("ref_done", "part")
            if all(not c.alive(t) or self.roles[t] in settled for t in self.order):
                self._select()
                return True
            return False
        return super()._step()

    def _select(self) -> None:
        c, e, r = self.core, self.decision_epoch, self.r_i
        model = c.pool.model(r, e)  # fitted here if absent and >= d curves exist (as the reference)
        parts = [t for t in self.order if self.roles[t] == "part" and c.alive(t)]
        refs = [c.loss_at(t, r) for t in self.order if self.roles[t] == "ref_done"]
        refs = [v for v in refs if math.isfinite(v)]
        self.phase = 2
        if not parts:
            return
        if model is None:  # only if reference trials died before giving d curves
            c.notes.append(f"bracket {self.index} rung {r}: no predictor ({c.pool.count(r)} curves), "
                           "all partial trials continue")
            for t in parts:
                self.roles[t] = "sel"
            return
        X = np.asarray([c.curves[t][:e] for t in parts], dtype=float)
        ok = np.isfinite(X).all(axis=1)
        pred = np.full(len(parts), math.inf)
        if ok.any():
            pred[ok] = np.asarray(model.predict(X[ok]), dtype=float).ravel()
        threshold = float(np.quantile(refs, c.q)) if refs else math.inf
        chosen = [i for i in range(len(parts)) if pred[i] < threshold]
        if len(chosen) + self.n_ref_done < self.n_next:
            order = sorted(range(len(parts)), key=lambda i: pred[i])
            chosen = order[: self.n_next - self.n_ref_done]
        chosen_set = set(chosen)
        for i, t in enumerate(parts):  # the decision log behind "predicted vs true" plots
            c.decisions.append({"trial_id": t, "bracket": self.index, "rung": r, "epoch": e, "target": r,
                                "predicted": float(pred[i]), "threshold": threshold,
                                "continued": i in chosen_set})
        for i, t in enumerate(parts):
            if i in chosen_set:
                self.roles[t] = "sel"
            elif c.epoch(t) < r:
                self.roles[t] = "drop"
                c.stop(t, StopReason(Outcome.STOPPED_PREDICTOR, epoch=e, rung=r, predicted=float(pred[i]),
                                      rule="predictor"))
            # else: decision epoch == r_i; the trial keeps its true rung loss for the cut

    def get_state(self) -> dict[str, Any]:
        st = super().get_state()
        st.update(phase=self.phase, roles=self.roles, n_ref_sent=self.n_ref_sent,
                  n_ref_done=self.n_ref_done)
        return st

    def set_state(self, st: Mapping[str, Any]) -> None:
        super().set_state(st)
        self.phase, self.roles = int(st["phase"]), dict(st["roles"])
        self.n_ref_sent, self.n_ref_done = int(st["n_ref_sent"]), int(st["n_ref_done"])


class SwiftHyperbandCore(HyperbandCore):
    kind = "swift"
    bracket_class = SwiftBracket

    def __init__(self, max_epochs: int, predictor_factory: Callable[[], Predictor], eta: int = 2,
                 d: int = 15, k: float = 0.5, kc: float = 0.5, q: float = 0.25, refit: bool = False):
        if predictor_factory is None or not callable(predictor_factory):
            raise ValueError("Swift-Hyperband needs a predictor_factory (callable returning fit/predict)")
        if not (d >= 1 and 0 <= k <= 1 and 0 < kc <= 1 and 0 <= q <= 1):
            raise ValueError(f"bad Swift options d={d}, k={k}, kc={kc}, q={q}")
        self.d, self.k, self.kc, self.q, self.refit = int(d), float(k), float(kc), float(q), bool(refit)
        self.d_eff = effective_d(self.d, int(max_epochs), int(eta))
        self.pool = CurvePool(predictor_factory, self.d_eff, self.refit)
        self.notes: list[str] = []
        if self.d_eff < self.d:
            self.notes.append(f"swift: d lowered from {self.d} to {self.d_eff} for max_epochs="
                              f"{max_epochs}, eta={eta} (largest bracket has {max_bracket(max_epochs, eta)} "
                              "trials)")
        self.decisions: list[dict[str, Any]] = []  # one record per predictor decision
        super().__init__(max_epochs, eta)

    def decision_log(self) -> list[dict[str, Any]]:
        return list(self.decisions)

    def run_notes(self) -> list[str]:
        """Lines for the end of the run (``hpo.protocols.Diagnostics``): a lowered ``d``, rungs
        left without a predictor, and a run whose predictor never made a decision."""
        out = list(self.notes)
        if not self.decisions:
            out.append(f"swift: the predictor never made a decision ({len(self.pool.fit_log)} fits; "
                       f"it needs {self.d_eff} complete curves at a rung and trials left to judge "
                       "there): this run was plain Hyperband")
        return out

    def predictor_fit_seconds(self) -> list[float]:
        return list(self.pool.fit_seconds)

    def options(self) -> dict[str, Any]:
        return {"eta": self.eta, "d": self.d, "k": self.k, "kc": self.kc, "q": self.q, "refit": self.refit}

    def get_state(self) -> dict[str, Any]:
        st = super().get_state()
        st.update(options=self.options(), pool=self.pool.get_state(), notes=self.notes,
                  decisions=[{k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
                              for k, v in d.items()} for d in self.decisions])
        return st

    def set_state(self, state: Mapping[str, Any]) -> None:
        if dict(state.get("options", {})) != self.options():
            raise ValueError(f"Swift state was saved with options {state.get('options')}, "
                             f"this core has {self.options()}")
        super().set_state(state)
        self.pool.set_state(state["pool"])
        self.notes = list(state["notes"])
        self.decisions = [{k: (float(v) if k in ("predicted", "threshold") else v) for k, v in d.items()}
                          for d in state.get("decisions", [])]
