"""Replay benchmarks: scheduler cores and searchers driven on learning-curve tables, no Ray.

``python -m hpo.bench --help``.  One simulator, :func:`hpo.bench.simtime.simulate` (a
:class:`hpo.protocols.SchedulerCore` and a :class:`hpo.protocols.Searcher` on a
:class:`hpo.bench.table.CurveTable`); :func:`hpo.bench.replay.replay` is the fixed-rows call of it.
Ray Tune's peers and Ray-driven runs live in :mod:`hpo.ray.bench`.
"""
from .replay import ReplayResult, paired_rows, replay

__all__ = ["ReplayResult", "paired_rows", "replay"]
