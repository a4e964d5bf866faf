"""Export :class:`hpo.metrics.MetricsAccount` through ``ray.util.metrics`` from a Tune callback."""
from __future__ import annotations

import time
from typing import Any, Mapping

from ray.tune import Callback

from hpo.metrics import FIT_SECONDS_BOUNDARIES, MetricsAccount


class RayMetrics:
    """The ``ray.util.metrics`` objects; recorded on the driver, exported by the node's agent."""

    def __init__(self, experiment: str, metric: str):
        from ray.util.metrics import Counter, Gauge, Histogram

        self.tags = {"experiment": experiment}
        self.metric = metric
        self.trials = Gauge("hpo_trials", "HPO trials by state", tag_keys=("experiment", "state"))
        self.consumed = Counter("hpo_epochs_consumed", "epochs trained by all trials", tag_keys=("experiment",))
        self.saved = Gauge("hpo_epochs_saved", "max_epochs - epochs trained, summed over early-stopped trials",
                           tag_keys=("experiment",))
        self.best = Gauge("hpo_best_metric", "best finite value of the experiment metric so far",
                          tag_keys=("experiment", "metric"))
        self.fit = Histogram("hpo_predictor_fit_seconds", "wall time of each learning-curve predictor fit",
                             boundaries=FIT_SECONDS_BOUNDARIES, tag_keys=("experiment",))
        self.decisions = Gauge("hpo_predictor_decisions", "predictor decisions by outcome",
                               tag_keys=("experiment", "outcome"))
        self.error = Gauge("hpo_predictor_abs_error", "|predicted - true| loss at the rung (mean, last)",
                           tag_keys=("experiment", "stat"))
        self.fits_observed = 0

    def add_epochs(self, n: int) -> None:
        if n > 0:
            self.consumed.inc(n, tags=self.tags)

    def export(self, snap: Mapping[str, Any]) -> None:
        for state, n in snap["trials"].items():
            self.trials.set(n, tags={**self.tags, "state": state})
        self.saved.set(snap["epochs_saved"], tags=self.tags)
        if snap["best"] is not None:
            self.best.set(snap["best"], tags={**self.tags, "metric": self.metric})
        for seconds in snap["fit_seconds"][self.fits_observed:]:
            self.fit.observe(max(seconds, 1e-9), tags=self.tags)
        self.fits_observed = len(snap["fit_seconds"])
        for outcome, n in snap["decisions"].items():
            self.decisions.set(n, tags={**self.tags, "outcome": outcome})
        if snap["abs_error"] is not None:
            for stat, v in snap["abs_error"].items():
                self.error.set(v, tags={**self.tags, "stat": stat})


class HpoMetricsCallback(Callback):
    """Tune callback (driver side) feeding ``MetricsAccount`` and exporting it at most every
    ``interval_s`` seconds, and at every trial end and at the end of the experiment."""

    def __init__(self, account: MetricsAccount, *, experiment: str, interval_s: float = 1.0):
        self.account = account
        self.experiment, self.interval_s = experiment, interval_s
        self._ray: RayMetrics | None = None
        self._last_export = 0.0

    @property
    def ray_metrics(self) -> RayMetrics:
        if self._ray is None:  # created lazily: metric objects are not picklable with the Tuner
            self._ray = RayMetrics(self.experiment, self.account.objective.metric)
        return self._ray

    def export(self) -> dict[str, Any]:
        snap = self.account.snapshot()
        self.ray_metrics.export(snap)
        self._last_export = time.monotonic()
        return snap

    def _statuses(self, trials) -> None:
        for t in trials:
            self.account.set_status(t.trial_id, t.status)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.ray_metrics.add_epochs(self.account.on_result(trial.trial_id, result))

    def on_step_end(self, iteration, trials, **info):
        if time.monotonic() - self._last_export >= self.interval_s:
            self._statuses(trials)
            self.export()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._statuses(trials)
        self.account.set_status(trial.trial_id, "TERMINATED")
        self.export()

    def on_trial_error(self, iteration, trials, trial, **info):
        self._statuses(trials)
        self.account.set_status(trial.trial_id, "ERROR")
        self.export()

    def on_experiment_end(self, trials, **info):
        self._statuses(trials)
        self.export()

    def get_state(self) -> dict[str, Any]:
        return {"account": self.account.get_state()}

    def set_state(self, state: dict) -> None:
        self.account.set_state(state["account"])

    def __getstate__(self):
        st = dict(self.__dict__)
        st["_ray"] = None
        return st
