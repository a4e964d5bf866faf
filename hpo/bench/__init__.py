"""Replay benchmarks: scheduler cores driven on published learning-curve tables, no Ray.

``python -m hpo.bench --help``; the simulator is ``hpo.bench.replay.replay``.
"""
from .replay import ReplayResult, paired_rows, replay

__all__ = ["ReplayResult", "paired_rows", "replay"]
