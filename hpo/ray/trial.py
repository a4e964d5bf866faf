"""The Tune function trainable that runs one trial of any registered or user trainable.

It enters the ``hpo`` session with Tune's backend (so ``hpo.report`` works), passes fixed
arguments and ``max_epochs`` in the config, and ends the trial cleanly when the experiment metric
becomes NaN/inf, which the schedulers then treat as the worst value.
"""
from __future__ import annotations

from typing import Any, Callable

from hpo import distributed, session

from .runtime import TrialFault, TuneBackend, quiet_ray_logs

CALLABLE_PLACEHOLDER = "hpo.ray.trial:_callable"


def make_trial_function(train: Callable[[dict], Any] | str, *, args: dict[str, Any], max_epochs: int,
                        metric: str, resources: distributed.TrialResources) -> Callable[[dict], None]:
    """Return ``fn(config)`` for ``ray.tune``; ``train`` is a callable or ``module:function``/name."""

    def hpo_trial(config: dict) -> None:
        quiet_ray_logs()
        fn = _resolve(train)
        distributed.set_trial_resources(resources)
        session._enter(TuneBackend(metric)).watch_metric = metric
        try:
            fn({**args, **config, "max_epochs": max_epochs})
        except session.NonFiniteMetric:
            pass  # reported with NONFINITE_KEY; the trial ends here
        except TrialFault:
            pass  # reported with FAULT_KEY; the driver records the trial as failed (no retry)
        finally:
            session._leave()

    hpo_trial.__name__ = f"hpo_trial_{_label(train)}"
    return hpo_trial


def _label(train) -> str:
    if isinstance(train, str):
        return train.replace(":", "_").replace(".", "_")
    return getattr(train, "__name__", "fn")


def _resolve(train):
    if callable(train):
        return train
    from hpo.registry import trainable_module

    mod, func = trainable_module(train)
    return getattr(mod, func)


def _callable(config: dict) -> None:
    """Placeholder name for a trainable passed as a Python callable (the callable itself runs)."""
    raise RuntimeError(f"{CALLABLE_PLACEHOLDER} is never run; the callable passed to hpo.tune is")
