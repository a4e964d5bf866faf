"""The three small protocols the service is built from.

* a **Searcher** proposes configurations (we use Ray Tune's ``Searcher`` API at the edge);
* a **SchedulerCore** decides, per reported epoch, whether a trial continues, pauses or stops;
* a **Predictor** fits partial learning curves and forecasts a later loss.

Scheduler cores are plain Python (no Ray import): the Ray adapter, the replay simulator and the
unit tests all drive the same object through this protocol.  Cores always *minimise*: the Ray
adapter negates the metric when the experiment maximises.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol, runtime_checkable

import numpy as np

CONTINUE = "CONTINUE"
PAUSE = "PAUSE"
STOP = "STOP"
DECISIONS = (CONTINUE, PAUSE, STOP)


@runtime_checkable
class Predictor(Protocol):
    """Learning-curve predictor: ``X`` rows are partial curves (losses of epochs 1..e, optionally
    with extra features), ``y`` the loss at the target epoch.  scikit-learn estimators qualify."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Predictor": ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Stateful(Protocol):
    """Anything whose progress must survive a driver crash (``--resume``)."""

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: Mapping[str, Any]) -> None: ...


@runtime_checkable
class SchedulerCore(Stateful, Protocol):
    """Pure-Python scheduling decisions, with epochs as the budget unit.

    ``epoch`` is the number of epochs the trial has completed (1-based, monotonic across
    pause/resume); ``loss`` is the value to minimise at that epoch.
    """

    def on_trial_add(self, trial_id: str) -> None: ...

    def on_result(self, trial_id: str, epoch: int, loss: float) -> str:
        """Return CONTINUE, PAUSE or STOP."""

    def on_trial_complete(self, trial_id: str) -> None: ...

    def on_trial_remove(self, trial_id: str) -> None: ...

    def choose_trial_to_run(self, runnable: Iterable[str]) -> str | None:
        """Pick one of ``runnable`` (pending or paused trial ids) to (re)start, or None."""

    def stop_reason(self, trial_id: str) -> str | None:
        """Why the core stopped this trial (e.g. ``"rung 12"``, ``"predictor at epoch 6"``)."""
