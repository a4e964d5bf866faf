"""HPO monitoring quantities, computed without Ray; :mod:`hpo.ray.metrics` exports them through
``ray.util.metrics``, next to Ray's own metrics, tagged with the experiment name.  Ray exports them
about every 10 s on the node's metrics agent (``http://127.0.0.1:<metrics_export_port>/metrics``,
Prometheus text format); Ray adds a ``ray_`` prefix and counters get ``_total``:

=====================================  ======================================================
``ray_hpo_trials{state=...}``          trials by state: pending, running, paused, and each
                                       ended trial's ``hpo.protocols.Outcome`` value
                                       (completed, stopped_rung, stopped_predictor, ...)
``ray_hpo_epochs_consumed_total``      epochs reported by all trials (pauses do not repeat)
``ray_hpo_epochs_saved``               sum over early-stopped trials of max_epochs - epochs
``ray_hpo_best_metric{metric=...}``    best finite metric value reported so far
``ray_hpo_predictor_fit_seconds``      histogram of predictor fit times
``ray_hpo_predictor_decisions``        predictor decisions, by outcome continued/stopped
``ray_hpo_predictor_abs_error``        |predicted - true| at the rung, mean and last, over the
                                       decisions whose trial has reached the rung
=====================================  ======================================================

Outcomes come from the scheduler's typed ``StopReason`` values; the predictor quantities from a
scheduler core that implements ``hpo.protocols.Diagnostics`` (Swift-Hyperband: García Amboage et
al., EPJ Web Conf. 295, 12005 (2024)).  Schedulers without them leave those metrics at zero.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from .protocols import EPOCH_KEY, STOPPED_BY_SCHEDULER, Diagnostics, Objective, Outcome, StopReason
from .results import CurveStore

LIVE_STATES = ("pending", "running", "paused")
TRIAL_STATES = LIVE_STATES + tuple(o.value for o in Outcome)
FIT_SECONDS_BOUNDARIES = [0.001, 0.01, 0.1, 1.0, 10.0, 60.0]
EARLY = STOPPED_BY_SCHEDULER + (Outcome.NON_FINITE,)


class MetricsAccount:
    """Everything the metrics show, from the curve record, Tune's statuses and the scheduler."""

    def __init__(self, store: CurveStore, *, reasons: Callable[[], Mapping[str, StopReason]],
                 diagnostics: Diagnostics | None, max_epochs: int):
        self.store, self.reasons, self.diagnostics = store, reasons, diagnostics
        self.objective = Objective(store.metric, store.mode)
        self.max_epochs = int(max_epochs)
        self.seen: dict[str, int] = {}  # trial id -> highest epoch counted in epochs_consumed
        self.statuses: dict[str, str] = {}  # trial id -> Tune status (PENDING, RUNNING, ...)
        self.epochs_consumed = 0

    # ---- events ------------------------------------------------------------------------------
    def on_result(self, trial_id: str, result: Mapping[str, Any]) -> int:
        """Count one report; returns the number of new epochs it represents (0 for a repeat)."""
        epoch = result.get(EPOCH_KEY)
        if epoch is None:
            return 0
        new = max(0, int(epoch) - self.seen.get(trial_id, 0))
        self.seen[trial_id] = max(int(epoch), self.seen.get(trial_id, 0))
        self.epochs_consumed += new
        return new

    def set_status(self, trial_id: str, status: str) -> None:
        self.statuses[trial_id] = status

    # ---- derived values --------------------------------------------------------------------------
    def _epochs(self, tid: str) -> int:
        return self.store.trials.get(tid, {}).get("epochs", 0)

    def _state(self, tid: str, status: str, reasons: Mapping[str, StopReason]) -> str:
        if status in ("PENDING", "RUNNING", "PAUSED"):
            return status.lower()
        if status == "ERROR":
            return Outcome.FAILED.value
        if self._epochs(tid) >= self.max_epochs:
            return Outcome.COMPLETED.value
        reason = reasons.get(tid)
        return (reason.outcome if reason else Outcome.ENDED_EARLY).value

    def trial_states(self) -> dict[str, int]:
        reasons = self.reasons()
        counts = dict.fromkeys(TRIAL_STATES, 0)
        for tid, status in self.statuses.items():
            counts[self._state(tid, status, reasons)] += 1
        return counts

    def epochs_saved(self) -> int:
        saved = 0
        for tid, reason in self.reasons().items():
            if reason.outcome in EARLY and self.statuses.get(tid) not in ("RUNNING", "PAUSED"):
                saved += max(0, self.max_epochs - self._epochs(tid))
        return saved

    def decisions(self) -> list[dict[str, Any]]:
        return self.diagnostics.decision_log() if self.diagnostics is not None else []

    def fit_seconds(self) -> list[float]:
        return self.diagnostics.predictor_fit_seconds() if self.diagnostics is not None else []

    def predictor_errors(self) -> list[float]:
        """|predicted - true loss at the rung| for decisions whose trial has reached the rung, in
        decision order (both sides in the scheduler's minimised units, so also right for max)."""
        out = []
        for d in self.decisions():
            if d.get("predicted") is None:  # a rank-rule decision
                continue
            value = self.store.value_at(d["trial_id"], int(d.get("target", d["rung"])))
            pred = float(d["predicted"])
            if value is not None and math.isfinite(pred):
                out.append(abs(pred - self.objective.loss(value)))
        return out

    def snapshot(self) -> dict[str, Any]:
        decisions = self.decisions()
        errors = self.predictor_errors()
        return {
            "trials": self.trial_states(),
            "epochs_consumed": self.epochs_consumed,
            "epochs_saved": self.epochs_saved(),
            "best": self.store.best[0] if self.store.best else None,
            "fit_seconds": self.fit_seconds(),
            "decisions": {"continued": sum(1 for d in decisions if d["continued"] and "predicted" in d),
                          "stopped": sum(1 for d in decisions if not d["continued"] and "predicted" in d)},
            "abs_error": {"mean": sum(errors) / len(errors), "last": errors[-1]} if errors else None,
        }

    def get_state(self) -> dict[str, Any]:
        """Counters only: the curves are the callback's ``CurveStore`` (saved once, there)."""
        return {"seen": dict(self.seen), "statuses": dict(self.statuses), "epochs_consumed": self.epochs_consumed}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.seen = {t: int(e) for t, e in state["seen"].items()}
        self.statuses = dict(state["statuses"])
        self.epochs_consumed = int(state["epochs_consumed"])


def scrape(url: str, name: str, timeout: float = 5.0) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of one metric from a Prometheus text endpoint: {sorted label pairs: value}."""
    import re
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as resp:
        text = resp.read().decode()
    out = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
    for line in text.splitlines():
        m = line_re.match(line)
        if not m or m.group(1) != name:
            continue
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
        out[labels] = float(m.group(3))
    return out
