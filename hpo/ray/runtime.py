"""Where a trial's ``hpo.report`` goes inside Ray: Tune's session or a Ray Train worker's.

The plain session (:mod:`hpo.session`) writes the checkpoint directory and counts epochs; these
backends hand the metrics and that directory to Ray (``tune.report`` / ``ray.train.report``) and
read the trial's last checkpoint back.
"""
from __future__ import annotations

import logging
from typing import Any


class TuneBackend:
    """A Tune function trainable (one process per trial)."""
    data_parallel = False

    def checkpoint(self):
        from ray import tune

        return tune.get_checkpoint()

    def report(self, metrics: dict[str, Any], ckpt_dir: str | None) -> None:
        from ray import tune

        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(ckpt_dir) if ckpt_dir else None)


class TrainBackend:
    """A Ray Train worker of a data-parallel trial (every rank reports; rank 0's checkpoint is kept)."""
    data_parallel = True

    def checkpoint(self):
        import ray.train

        return ray.train.get_checkpoint()

    def report(self, metrics: dict[str, Any], ckpt_dir: str | None) -> None:
        import ray.train

        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(ckpt_dir) if ckpt_dir else None)


def quiet_ray_logs() -> None:
    """Per-epoch checkpoints make Ray's storage layer log one INFO line each; keep warnings only."""
    for name in ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage",
                 "ray.tune.trainable.trainable"):
        logging.getLogger(name).setLevel(logging.WARNING)
