"""Curve recorder: train N sampled configurations to the full budget, write a curve table.

``python -m hpo.bench record --space SPACE.yaml --configs N [--max-epochs R] [--out FILE.csv]``
samples ``N`` configurations from the space's distributions (seeded), trains each in-process with
the space's trainable (``hpo.session.local_session``, no Ray; ``--jobs`` processes in parallel)
and writes the table in the format of the published MLPF Delphes table
(``hpo/bench/table.py``): one column per hyperparameter, then ``loss_0 … loss_{R-1}``.
Beside it: ``FILE.seconds.csv`` (measured seconds of every epoch, for the simulated-time replay)
and ``FILE.md`` (command, machine, sampled space, what was dropped).

* A ``choice`` of non-numeric values is written as the value's index (the .md lists the values).
* The loss is the experiment's metric, negated when its mode is ``max`` (tables are minimised).
* A configuration whose metric becomes NaN/inf or that stops before ``R`` epochs is left out and
  counted in the .md (the table format holds finite, complete curves only).
"""
from __future__ import annotations

import csv
import math
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hpo.protocols import Objective
from hpo.space import Choice, Distribution, IntRange, Uniform


def sample_value(dist: Distribution, rng: np.random.Generator) -> Any:
    if isinstance(dist, Choice):
        return dist.values[int(rng.integers(len(dist.values)))]
    if isinstance(dist, IntRange):
        if dist.log:  # log-uniform over [low, high + 1), floored
            x = math.exp(rng.uniform(math.log(dist.low), math.log(dist.high + 1)))
            return int(min(dist.high, max(dist.low, math.floor(x))))
        return int(rng.integers(dist.low, dist.high + 1))
    if isinstance(dist, Uniform):
        x = math.exp(rng.uniform(math.log(dist.low), math.log(dist.high))) if dist.log else rng.uniform(dist.low, dist.high)
        if dist.q:
            x = min(dist.high, max(dist.low, round(x / dist.q) * dist.q))
        return float(x)
    raise TypeError(f"cannot sample {dist!r}")


def sample_configs(space: Mapping[str, Distribution], n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [{k: sample_value(d, rng) for k, d in space.items()} for _ in range(n)]


def numeric(dist: Distribution, value: Any) -> float:
    """The table cell for ``value``: the number itself, or its index in a non-numeric choice."""
    if isinstance(dist, Choice) and not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                            for v in dist.values):
        return float(dist.values.index(value))
    return float(value)


def train_one(trainable: Any, args: dict[str, Any], config: dict[str, Any], max_epochs: int,
              objective: Objective) -> tuple[list[float], list[float], str | None]:
    """Train one configuration in-process; returns (losses, seconds per epoch, problem or None)."""
    import hpo.session as session
    from hpo.registry import trainable_module

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    if callable(trainable):
        fn = trainable
    else:
        mod, func = trainable_module(trainable)
        fn = getattr(mod, func)
    stamps: list[float] = []
    with session.local_session() as s:
        inner = s._session.report
        session._current.watch_metric = objective.metric

        def timed(metrics, checkpoint=None):
            inner(metrics, checkpoint)
            stamps.append(time.perf_counter())

        s._session.report = timed
        t0 = time.perf_counter()
        try:
            fn({**args, **config, "max_epochs": max_epochs})
        except Exception as exc:  # noqa: BLE001 - a failed configuration is recorded and left out
            from hpo.session import NonFiniteMetric

            if not isinstance(exc, NonFiniteMetric):
                return [], [], f"{type(exc).__name__}: {exc}"
        reports = s.reports
    losses = [objective.loss(float(r[objective.metric])) for r in reports if objective.metric in r]
    secs = list(np.diff([t0] + stamps))
    if len(losses) < max_epochs:
        return losses, secs, f"stopped after {len(losses)} of {max_epochs} epochs"
    if not all(math.isfinite(x) for x in losses[:max_epochs]):
        return losses, secs, "non-finite metric"
    return losses[:max_epochs], secs[:max_epochs], None


def record(space_path: str, n_configs: int, out: str, *, max_epochs: int | None = None, seed: int | None = None,
           jobs: int = 1, trainable: Any = None, command: str = "") -> dict[str, Any]:
    """Record a table; ``trainable`` overrides the space's (a callable, for tests)."""
    from hpo import config as config_mod
    from hpo.registry import trainable_module

    cfg = config_mod.load(space_path)
    R = int(max_epochs or cfg.budget.max_epochs)
    seed = cfg.seed if seed is None else seed
    args = dict(cfg.trainable_args)
    if trainable is None:
        mod, _ = trainable_module(cfg.trainable)
        if hasattr(mod, "prepare"):
            args = mod.prepare(args) or args
        trainable = cfg.trainable
    objective = Objective(cfg.metric, cfg.mode)
    configs = sample_configs(cfg.space, n_configs, seed if seed is not None else 0)
    t0 = time.time()
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(train_one, [trainable] * len(configs), [args] * len(configs), configs,
                                    [R] * len(configs), [objective] * len(configs)))
    else:
        results = [train_one(trainable, args, c, R, objective) for c in configs]
    wall = time.time() - t0
    names = list(cfg.space)
    kept = [(c, l, s) for c, (l, s, problem) in zip(configs, results) if problem is None]
    dropped = [(i, problem) for i, (_, _, problem) in enumerate(results) if problem is not None]
    if not kept:
        raise RuntimeError(f"no configuration trained to {R} epochs: {dropped[:3]}")
    outp = Path(out)
    outp.parent.mkdir(parents=True, exist_ok=True)
    with outp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names + [f"loss_{e}" for e in range(R)])
        for c, losses, _ in kept:
            w.writerow([repr(numeric(cfg.space[k], c[k])) for k in names] + [repr(float(x)) for x in losses])
    sec_path = outp.with_suffix(".seconds.csv")
    with sec_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"sec_{e}" for e in range(R)])
        for _, _, secs in kept:
            w.writerow([f"{x:.4f}" for x in secs])
    info = {"rows": len(kept), "dropped": dropped, "wall_s": wall, "max_epochs": R, "table": str(outp)}
    _write_md(outp.with_suffix(".md"), cfg, info, command, jobs)
    return info


def _write_md(path: Path, cfg, info: dict[str, Any], command: str, jobs: int) -> None:
    lines = [f"# Curve table `{Path(info['table']).name}`", "",
             f"Command: `{command}`" if command else "Written by hpo.bench.record.record().", "",
             f"Machine: {os.cpu_count()}-core CPU ({platform.machine()}, {platform.system()}), no GPU; "
             f"{jobs} training process(es); {info['wall_s']:.0f} s wall in all.", "",
             f"Trainable `{cfg.trainable}` with fixed args `{dict(cfg.trainable_args)}`; metric `{cfg.metric}` "
             f"({cfg.mode}; {'negated, ' if cfg.mode == 'max' else ''}written as loss_0 … loss_{info['max_epochs'] - 1}); "
             f"seed {cfg.seed}.", "",
             f"{info['rows']} configurations trained to {info['max_epochs']} epochs; "
             f"{len(info['dropped'])} left out" + (": " + "; ".join(f"#{i}: {p}" for i, p in info['dropped'])
                                                    if info['dropped'] else "") + ".", "",
             "Sampled space (a non-numeric choice is written as the index of its value):", ""]
    for k, d in cfg.space.items():
        lines.append(f"- `{k}`: {d.as_dict()}")
    lines.append(f"\nPer-epoch wall seconds: `{Path(info['table']).with_suffix('.seconds.csv').name}`.")
    path.write_text("\n".join(lines) + "\n")
