"""The contract the service is built from: three roles, their outcomes, and the objective.

* a **Searcher** proposes configurations and learns from what the trials report;
* a **Scheduler** (``SchedulerCore``) decides, per reported epoch, whether a trial continues,
  pauses or stops, and says why with a typed :class:`StopReason`;
* a **Predictor** fits partial learning curves and forecasts a later loss, optionally with an
  uncertainty (:class:`ProbabilisticPredictor`).

Everything here is plain Python: the Ray adapters in :mod:`hpo.ray`, the replay simulator in
:mod:`hpo.bench` and the unit tests all drive the same objects through these protocols, and no
caller probes for methods with ``hasattr``.  Cores always *minimise*: :class:`Objective` turns the
experiment's metric into that loss once, at the edge.

The shape follows Optuna's pruner/sampler bases and Syne Tune's scheduler interface (each role
one small abstract surface), not their code.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, Iterable, Mapping, Protocol, runtime_checkable

import numpy as np

# ---- result keys -----------------------------------------------------------------------------
EPOCH_KEY = "hpo_epoch"  # epochs completed, monotonic across pause/resume (Tune's iteration is not)
NONFINITE_KEY = "hpo_nonfinite"  # set on the report whose objective was NaN/inf (the trial ends)


class Decision(str, Enum):
    """A scheduler's answer to one reported epoch (compares equal to its string value)."""
    CONTINUE = "CONTINUE"
    PAUSE = "PAUSE"
    STOP = "STOP"

    def __str__(self) -> str:
        return self.value


CONTINUE, PAUSE, STOP = Decision.CONTINUE, Decision.PAUSE, Decision.STOP
DECISIONS = tuple(Decision)


class Outcome(str, Enum):
    """How a trial ended: one vocabulary for the core, the trials table, metrics and the report."""
    COMPLETED = "completed"              # trained to max_epochs
    STOPPED_RUNG = "stopped_rung"        # lost a rank cut at a rung (ASHA, successive halving)
    STOPPED_PREDICTOR = "stopped_predictor"  # a learning-curve prediction stopped it
    NOT_PROMOTED = "not_promoted"        # ASHA (promote): left paused at a rung when the run ended
    NON_FINITE = "non_finite"            # reported NaN/inf
    ENDED_EARLY = "ended_early"          # the trainable returned before max_epochs
    FAILED = "failed"                    # raised, or reported a bad metric
    REMOVED = "removed"                  # removed by the driver
    TIME_LIMIT = "time_limit"            # the experiment's time limit ended it
    STALLED = "stalled"                  # paused and never resumed (a scheduler bug)
    UNFINISHED = "unfinished"            # the run ended while the trial was still live

    def __str__(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        """The short words users read ("stopped at a rung")."""
        return _LABELS[self]


_LABELS = {
    Outcome.COMPLETED: "completed", Outcome.STOPPED_RUNG: "stopped at a rung",
    Outcome.STOPPED_PREDICTOR: "stopped by the predictor", Outcome.NOT_PROMOTED: "not promoted",
    Outcome.NON_FINITE: "non-finite metric", Outcome.ENDED_EARLY: "ended by the trainable",
    Outcome.FAILED: "failed", Outcome.REMOVED: "removed", Outcome.TIME_LIMIT: "time limit",
    Outcome.STALLED: "stalled", Outcome.UNFINISHED: "unfinished",
}
STOPPED_BY_SCHEDULER = (Outcome.STOPPED_RUNG, Outcome.STOPPED_PREDICTOR, Outcome.NOT_PROMOTED)


@dataclass(frozen=True)
class StopReason:
    """Why a trial ended, as a value: the outcome plus its detail.

    ``epoch`` is the epoch the trial stood at; ``rung`` the rung (in epochs) of a rank cut or
    prediction; ``predicted`` the predicted final loss behind a predictor stop; ``rule`` which
    rule made a scheduler decision (``"rank"`` or ``"predictor"``); ``detail`` free text for
    errors only (exception type and message)."""
    outcome: Outcome
    epoch: int | None = None
    rung: int | None = None
    predicted: float | None = None
    rule: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        parts = [self.outcome.label]
        if self.rung is not None:
            parts.append(f"rung {self.rung}")
        if self.epoch is not None and self.epoch != self.rung:
            parts.append(f"epoch {self.epoch}")
        if self.predicted is not None and math.isfinite(self.predicted):
            parts.append(f"predicted {self.predicted:.4g}")
        text = ", ".join(parts)
        return f"{text}: {self.detail}" if self.detail else text

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v not in (None, "")}
        d["outcome"] = self.outcome.value
        if isinstance(d.get("predicted"), float) and not math.isfinite(d["predicted"]):
            d["predicted"] = str(d["predicted"])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StopReason":
        pred = d.get("predicted")
        return cls(Outcome(d["outcome"]), epoch=d.get("epoch"), rung=d.get("rung"),
                   predicted=float(pred) if pred is not None else None, rule=d.get("rule"),
                   detail=d.get("detail", ""))


@dataclass(frozen=True)
class Objective:
    """The experiment's metric and direction; the one place the min/max sign is applied."""
    metric: str
    mode: str = "min"

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")

    @property
    def sign(self) -> float:
        return 1.0 if self.mode == "min" else -1.0

    def loss(self, value: float) -> float:
        """The value to minimise (NaN/inf become +inf, the worst loss)."""
        v = float(value)
        return self.sign * v if math.isfinite(v) else math.inf

    def value(self, loss: float) -> float:
        """Back from a loss to the metric's own scale."""
        return self.sign * float(loss)

    def better(self, a: float, b: float) -> bool:
        """Is metric value ``a`` strictly better than ``b``?"""
        return self.loss(a) < self.loss(b)

    def best_of(self, values: Iterable[float]) -> float | None:
        vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        return (min(vals) if self.mode == "min" else max(vals)) if vals else None


LIVE = ("pending", "running", "paused")  # SchedulerCore.trial_status values of a live trial
ENDED = ("stopped", "completed", "removed")


# ---- roles -------------------------------------------------------------------------------------
@runtime_checkable
class Stateful(Protocol):
    """Anything whose progress must survive a driver crash (``--resume``); state is JSON."""

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: Mapping[str, Any]) -> None: ...


@runtime_checkable
class Predictor(Protocol):
    """Learning-curve predictor: ``X`` rows are partial curves (losses of epochs 1..e, optionally
    with extra features), ``y`` the loss at the target epoch.  scikit-learn estimators qualify."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Predictor": ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class ProbabilisticPredictor(Predictor, Protocol):
    """A predictor that also says how unsure it is: ``predict_dist`` returns (mean, std)."""

    def predict_dist(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class SchedulerCore(Stateful, Protocol):
    """Pure-Python scheduling decisions, with epochs as the budget unit.

    ``epoch`` is the number of epochs the trial has completed (1-based, monotonic across
    pause/resume); ``loss`` is the value to minimise at that epoch (``Objective.loss``).
    """
    kind: str
    max_epochs: int

    def on_trial_add(self, trial_id: str) -> None: ...

    def on_result(self, trial_id: str, epoch: int, loss: float) -> Decision: ...

    def on_trial_complete(self, trial_id: str) -> None: ...

    def on_trial_remove(self, trial_id: str) -> None: ...

    def choose_trial_to_run(self, runnable: Iterable[str]) -> str | None:
        """Pick one of ``runnable`` (pending or paused trial ids) to (re)start, or None."""

    def seal(self) -> None:
        """No more trials will be added (partly filled brackets may close)."""

    def take_stops(self) -> list[str]:
        """Trials the core ended while they were not reporting; the driver must stop them."""

    def trial_status(self, trial_id: str) -> str | None:
        """``pending``, ``running``, ``paused``, ``stopped``, ``completed``, ``removed`` or None."""

    def stop_reason(self, trial_id: str) -> StopReason | None: ...

    @property
    def uses_pause(self) -> bool:
        """Whether trials get PAUSEd (they must checkpoint; concurrency is capped by resources)."""


@runtime_checkable
class Searcher(Stateful, Protocol):
    """Proposes configurations, learns from reports.  ``suggest`` returns None when it has no
    configuration to give now, and :attr:`finished` once it will never give another."""

    def suggest(self, trial_id: str) -> dict[str, Any] | None: ...

    def on_result(self, trial_id: str, epoch: int, loss: float) -> None: ...

    def on_complete(self, trial_id: str) -> None: ...

    @property
    def finished(self) -> bool: ...


@runtime_checkable
class Diagnostics(Protocol):
    """Optional: a scheduler that makes predictor decisions exposes them here (decision log,
    predictor fit times) for the metrics, the report and ``predictions.parquet``."""

    def decision_log(self) -> list[dict[str, Any]]:
        """One record per decision: ``trial_id``, ``rung``, ``epoch``, ``continued`` and, for a
        predictor decision, ``predicted`` (a loss) and ``target`` (the epoch it predicts)."""

    def predictor_fit_seconds(self) -> list[float]: ...

    def run_notes(self) -> list[str]:
        """Lines the service prints when the run ends, e.g. that a configured predictor never
        made a decision (the run was then its fallback rule throughout)."""
