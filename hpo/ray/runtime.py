"""Where a trial's ``hpo.report`` goes inside Ray: Tune's session or a Ray Train worker's.

The plain session (:mod:`hpo.session`) writes the checkpoint directory and counts epochs; these
backends hand the metrics and that directory to Ray (``tune.report`` / ``ray.train.report``) and
read the trial's last checkpoint back.
"""
from __future__ import annotations

import logging
import math
import numbers
from typing import Any

from hpo.protocols import EPOCH_KEY

FAULT_KEY = "hpo_fault"  # set on the last report of a trial whose report broke the contract (text: why)


class TrialFault(Exception):
    """Raised inside a trial after it reported without the objective's key or with a non-numeric
    value: the fault was reported (``FAULT_KEY``) and the trial ends here, without a retry."""


def metric_fault(metrics: dict[str, Any], metric: str | None) -> str | None:
    """Why ``metrics`` cannot be scored on ``metric`` (missing key, non-numeric value), or None."""
    if not metric:
        return None
    if metric not in metrics:
        got = sorted(k for k in metrics if k != EPOCH_KEY)
        return (f"reported no {metric!r} (the experiment's metric); keys reported: "
                f"{', '.join(got[:12]) or 'none'}{' ...' if len(got) > 12 else ''}")
    value = metrics[metric]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"{metric!r} is not a number: {value!r:.80} ({type(value).__name__})"
    return None


def _fault_report(metrics: dict[str, Any], metric: str, why: str) -> dict[str, Any]:
    """What reaches Tune instead of a faulty report: Tune insists on the metric's key (its strict
    metric check would end the whole run), so it carries NaN, and ``FAULT_KEY`` says why."""
    return {metric: math.nan, EPOCH_KEY: metrics.get(EPOCH_KEY, 0), FAULT_KEY: why}


class TuneBackend:
    """A Tune function trainable (one process per trial).  ``metric``: the experiment's objective;
    a report that lacks it, or gives a non-numeric value, ends this trial as failed
    (:class:`TrialFault`) and the run goes on."""
    data_parallel = False

    def __init__(self, metric: str | None = None):
        self.metric = metric

    def checkpoint(self):
        from ray import tune

        return tune.get_checkpoint()

    def report(self, metrics: dict[str, Any], ckpt_dir: str | None) -> None:
        from ray import tune

        why = metric_fault(metrics, self.metric)
        if why is not None:
            tune.report(_fault_report(metrics, self.metric, why))
            raise TrialFault(why)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(ckpt_dir) if ckpt_dir else None)


class TrainBackend:
    """A Ray Train worker of a data-parallel trial (every rank reports; rank 0's checkpoint is kept)."""
    data_parallel = True

    def __init__(self, metric: str | None = None):
        self.metric = metric

    def checkpoint(self):
        import ray.train

        return ray.train.get_checkpoint()

    def report(self, metrics: dict[str, Any], ckpt_dir: str | None) -> None:
        import ray.train

        why = metric_fault(metrics, self.metric)
        if why is not None:  # every rank sees the same keys: all report the fault and end together
            ray.train.report(_fault_report(metrics, self.metric, why))
            raise TrialFault(why)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(ckpt_dir) if ckpt_dir else None)


def quiet_ray_logs() -> None:
    """Per-epoch checkpoints make Ray's storage layer log one INFO line each; keep warnings only."""
    for name in ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage",
                 "ray.tune.trainable.trainable"):
        logging.getLogger(name).setLevel(logging.WARNING)
