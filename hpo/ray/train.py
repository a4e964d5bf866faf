"""Data-parallel trials on Ray Train: one Tune trial drives a ``TorchTrainer`` with N workers.

Train V2 pattern (Ray 2.60): the Tune function trainable builds the trainer, the workers' reports
reach Tune's schedulers through ``TuneReportCallback``, and the Train run is named after the Tune
trial so a paused trial's run restores from its own latest checkpoint.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from hpo import distributed, session

from .runtime import TrainBackend, TrialFault, quiet_ray_logs


def worker_device():
    import ray.train.torch

    return ray.train.torch.get_device()


def prepare_model(model):
    import ray.train.torch

    return ray.train.torch.prepare_model(model)


class _WorkerEntry:
    """Picklable entry point run by every Train worker."""

    def __init__(self, fn: Callable[[dict], Any], resources: distributed.TrialResources):
        self.fn, self.resources = fn, resources

    def __call__(self, config: dict) -> None:
        import ray.train
        import torch

        quiet_ray_logs()
        ctx = ray.train.get_context()
        rank = ctx.get_world_rank()
        distributed._set_world(rank, ctx.get_world_size())
        distributed.set_trial_resources(self.resources)
        torch.set_num_threads(max(1, int(self.resources.cpus_per_worker)))
        session._enter(TrainBackend(self.resources.metric), rank=rank).watch_metric = self.resources.metric
        try:
            self.fn(config)
        except TrialFault:
            pass  # reported with FAULT_KEY by every rank; the driver records the trial as failed
        finally:
            session._leave()


def fit_data_parallel(worker_fn: Callable[[dict], Any], config: dict, res: distributed.TrialResources) -> None:
    import ray.train
    from ray import tune
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    trial_id = tune.get_context().get_trial_id()
    per_worker = {"CPU": res.cpus_per_worker}
    if res.gpus_per_worker:
        per_worker["GPU"] = res.gpus_per_worker
    storage = res.storage or os.path.abspath("hpo_results/_train")
    trainer = TorchTrainer(
        _WorkerEntry(worker_fn, res),
        train_loop_config=config,
        scaling_config=ray.train.ScalingConfig(num_workers=res.workers_per_trial,
                                               use_gpu=res.gpus_per_worker > 0,
                                               resources_per_worker=per_worker),
        run_config=ray.train.RunConfig(name=f"hpo-train-{trial_id}", storage_path=storage,
                                       callbacks=[TuneReportCallback()],
                                       checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2)),
    )
    trainer.fit()
