"""The Tune function trainable that runs one trial of any registered or user trainable.

It enters the ``hpo`` session (so ``hpo.report`` works), passes fixed arguments and
``max_epochs`` in the config, and ends the trial cleanly (with the reason recorded) when the
experiment metric becomes NaN/inf, which the schedulers then treat as the worst value.
"""
from __future__ import annotations

from typing import Any, Callable

from . import distributed, session

NONFINITE_KEY = "hpo_nonfinite"


class NonFiniteMetric(Exception):
    """Raised inside a trial when the experiment metric is NaN or infinite."""


def make_trial_function(train: Callable[[dict], Any] | str, *, args: dict[str, Any], max_epochs: int,
                        metric: str, resources: distributed.TrialResources) -> Callable[[dict], None]:
    """Return ``fn(config)`` for ``ray.tune``; ``train`` is a callable or ``module:function``/name."""

    def hpo_trial(config: dict) -> None:
        quiet_ray_logs()
        fn = _resolve(train)
        distributed.set_trial_resources(resources)
        session._enter("tune")
        session._current.watch_metric = metric
        try:
            fn({**args, **config, "max_epochs": max_epochs})
        except NonFiniteMetric:
            pass  # reported with NONFINITE_KEY; the trial ends here
        finally:
            session._leave()

    hpo_trial.__name__ = f"hpo_trial_{_label(train)}"
    return hpo_trial


def quiet_ray_logs() -> None:
    """Per-epoch checkpoints make Ray's storage layer log one INFO line each; keep warnings only."""
    import logging

    for name in ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage",
                 "ray.tune.trainable.trainable"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _label(train) -> str:
    if isinstance(train, str):
        return train.replace(":", "_").replace(".", "_")
    return getattr(train, "__name__", "fn")


def _resolve(train):
    if callable(train):
        return train
    from .registry import trainable_module

    mod, func = trainable_module(train)
    return getattr(mod, func)


def _callable(config: dict) -> None:
    """Placeholder name for a trainable passed as a Python callable (the callable itself runs)."""
    raise RuntimeError("hpo.trial:_callable is never run; the callable passed to hpo.tune is")
