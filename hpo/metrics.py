"""HPO monitoring metrics exported through ``ray.util.metrics``, next to Ray's own metrics.

A Tune ``Callback`` on the driver (``make_metrics_callback``) keeps the experiment's accounting in a
Ray-free ``MetricsAccount`` and pushes it to Ray's metrics, tagged with the experiment name.  Ray
exports them about every 10 s on the node's metrics agent
(``http://127.0.0.1:<metrics_export_port>/metrics``, Prometheus text format, no token needed);
Ray adds a ``ray_`` prefix and counters get ``_total``:

=====================================  ======================================================
``ray_hpo_trials{state=...}``          trials by state: pending, running, paused, completed,
                                       stopped_rung, stopped_predictor, stopped_nonfinite,
                                       stopped_other, error
``ray_hpo_epochs_consumed_total``      epochs reported by all trials (pauses do not repeat)
``ray_hpo_epochs_saved``               sum over early-stopped trials of max_epochs - epochs
``ray_hpo_best_metric{metric=...}``    best finite metric value reported so far
``ray_hpo_predictor_fit_seconds``      histogram of Swift predictor fit times
``ray_hpo_predictor_decisions``        Swift predictor decisions, by outcome continued/stopped
``ray_hpo_predictor_abs_error``        |predicted - true| at the rung, mean and last, over the
                                       decisions whose trial has reached the rung
=====================================  ======================================================

Stop reasons come from the scheduler's ``stop_reasons()`` (our adapter,
``hpo/schedulers/ray_adapter.py``); the Swift-Hyperband quantities from ``scheduler.core.decisions``
and ``scheduler.core.pool.fit_seconds`` (García Amboage et al., EPJ Web Conf. 295, 12005 (2024)).
Schedulers without them (Ray's own) simply leave those metrics at zero.
"""
from __future__ import annotations

import math
import time
from typing import Any, Mapping

from ray.tune import Callback

from .session import EPOCH_KEY

TRIAL_STATES = ("pending", "running", "paused", "completed", "stopped_rung", "stopped_predictor",
                "stopped_nonfinite", "stopped_other", "error")
EARLY_STOPS = ("rung", "predictor", "nonfinite")
FIT_SECONDS_BOUNDARIES = [0.001, 0.01, 0.1, 1.0, 10.0, 60.0]


def classify_reason(reason: str | None) -> str | None:
    """``"rung"``, ``"predictor"``, ``"nonfinite"``, ``"completed"``, ``"other"`` or None."""
    if not reason:
        return None
    r = reason.lower()
    if r.startswith("predictor"):
        return "predictor"
    if r.startswith("rung") or r.startswith("not promoted"):
        return "rung"
    if r.startswith("non-finite"):
        return "nonfinite"
    if r == "completed":
        return "completed"
    return "other"


class MetricsAccount:
    """Everything the metrics show, computed from Tune events and the scheduler (no Ray needed)."""

    def __init__(self, scheduler: Any, *, metric: str, mode: str, max_epochs: int):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.scheduler, self.metric, self.mode, self.max_epochs = scheduler, metric, mode, int(max_epochs)
        self.epochs: dict[str, int] = {}  # trial id -> highest hpo_epoch seen
        self.losses: dict[str, dict[int, float]] = {}  # trial id -> epoch -> loss in core units (minimised)
        self.statuses: dict[str, str] = {}  # trial id -> Tune status (PENDING, RUNNING, ...)
        self.epochs_consumed = 0
        self.best: float | None = None

    # ---- events ------------------------------------------------------------------------------
    def on_result(self, trial_id: str, result: Mapping[str, Any]) -> int:
        """Record one report; returns the number of new epochs it represents (0 for a repeat)."""
        epoch = result.get(EPOCH_KEY)
        if epoch is None:
            return 0
        epoch = int(epoch)
        new = max(0, epoch - self.epochs.get(trial_id, 0))
        self.epochs[trial_id] = max(epoch, self.epochs.get(trial_id, 0))
        self.epochs_consumed += new
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            value = float(value)
            self.losses.setdefault(trial_id, {})[epoch] = value if self.mode == "min" else -value
            if self.best is None or (value < self.best if self.mode == "min" else value > self.best):
                self.best = value
        return new

    def set_status(self, trial_id: str, status: str) -> None:
        self.statuses[trial_id] = status

    # ---- derived values --------------------------------------------------------------------------
    def stop_reasons(self) -> dict[str, str]:
        fn = getattr(self.scheduler, "stop_reasons", None)
        return dict(fn()) if callable(fn) else {}

    def _state(self, tid: str, status: str, reasons: dict[str, str]) -> str:
        if status in ("PENDING", "RUNNING", "PAUSED"):
            return status.lower()
        if status == "ERROR":
            return "error"
        kind = classify_reason(reasons.get(tid))
        if self.epochs.get(tid, 0) >= self.max_epochs or kind == "completed":
            return "completed"
        if kind in EARLY_STOPS:
            return f"stopped_{kind}"
        return "stopped_other"

    def trial_states(self) -> dict[str, int]:
        reasons = self.stop_reasons()
        counts = dict.fromkeys(TRIAL_STATES, 0)
        for tid, status in self.statuses.items():
            counts[self._state(tid, status, reasons)] += 1
        return counts

    def epochs_saved(self) -> int:
        reasons = self.stop_reasons()
        saved = 0
        for tid, reason in reasons.items():
            if classify_reason(reason) in EARLY_STOPS and self.statuses.get(tid) not in ("RUNNING", "PAUSED"):
                saved += max(0, self.max_epochs - self.epochs.get(tid, 0))
        return saved

    def decisions(self) -> list[dict[str, Any]]:
        core = getattr(self.scheduler, "core", None)
        return list(getattr(core, "decisions", None) or [])

    def fit_seconds(self) -> list[float]:
        pool = getattr(getattr(self.scheduler, "core", None), "pool", None)
        return list(getattr(pool, "fit_seconds", None) or [])

    def predictor_errors(self) -> list[float]:
        """|predicted - true loss at the rung| for decisions whose trial has reached the rung, in
        decision order (both sides in the scheduler's minimised units, so also right for max)."""
        out = []
        for d in self.decisions():
            true = self.losses.get(d["trial_id"], {}).get(int(d["rung"]))
            pred = float(d["predicted"])
            if true is not None and math.isfinite(pred):
                out.append(abs(pred - true))
        return out

    def snapshot(self) -> dict[str, Any]:
        decisions = self.decisions()
        errors = self.predictor_errors()
        return {
            "trials": self.trial_states(),
            "epochs_consumed": self.epochs_consumed,
            "epochs_saved": self.epochs_saved(),
            "best": self.best,
            "fit_seconds": self.fit_seconds(),
            "decisions": {"continued": sum(1 for d in decisions if d["continued"]),
                          "stopped": sum(1 for d in decisions if not d["continued"])},
            "abs_error": {"mean": sum(errors) / len(errors), "last": errors[-1]} if errors else None,
        }

    def get_state(self) -> dict[str, Any]:
        return {"epochs": dict(self.epochs), "statuses": dict(self.statuses),
                "losses": {t: {str(e): v for e, v in c.items()} for t, c in self.losses.items()},
                "epochs_consumed": self.epochs_consumed, "best": self.best}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.epochs = {t: int(e) for t, e in state["epochs"].items()}
        self.statuses = dict(state["statuses"])
        self.losses = {t: {int(e): float(v) for e, v in c.items()} for t, c in state["losses"].items()}
        self.epochs_consumed, self.best = int(state["epochs_consumed"]), state["best"]


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

    def __init__(self, scheduler: Any, *, metric: str, mode: str, experiment: str, max_epochs: int,
                 interval_s: float = 1.0):
        self.account = MetricsAccount(scheduler, metric=metric, mode=mode, max_epochs=max_epochs)
        self.experiment, self.interval_s = experiment, interval_s
        self._ray: RayMetrics | None = None
        self._last_export = 0.0

    @property
    def ray_metrics(self) -> RayMetrics:
        if self._ray is None:  # created lazily: metric objects are not picklable with the Tuner
            self._ray = RayMetrics(self.experiment, self.account.metric)
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


def make_metrics_callback(scheduler: Any, *, metric: str, mode: str, experiment: str,
                          max_epochs: int) -> HpoMetricsCallback:
    """The callback to add to ``tune.RunConfig(callbacks=[...])`` of one experiment."""
    return HpoMetricsCallback(scheduler, metric=metric, mode=mode, experiment=experiment, max_epochs=max_epochs)


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
