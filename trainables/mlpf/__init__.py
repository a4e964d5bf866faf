"""MLPF trainable: machine-learned particle flow (Pata et al., EPJC 81 (2021) 381; CLIC study
arXiv:2309.06782) on e+e- -> ttbar / qq / WW events at 380 GeV with a parametric CLIC-like detector.

Exposes the trainable contract of the ``hpo`` service: ``train(config)``, ``validate_args(args)``,
``prepare(args)`` and ``DEFAULT_METRIC``.  See README.md in this directory.  The entry points are
imported lazily so that generator worker processes do not import PyTorch.
"""
from __future__ import annotations

DEFAULT_METRIC = "val_loss"
DEFAULT_MODE = "min"
_LAZY = {"train": "training", "prepare": "args", "validate_args": "args"}

__all__ = ["train", "prepare", "validate_args", "DEFAULT_METRIC", "DEFAULT_MODE"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
