"""UCluster trainable: unsupervised clustering of boosted W / Z / top jets (issue #6).

Mikuni & Canelli, "Unsupervised clustering for collider physics", PRD 103 (2021) 092007
(arXiv:2010.07106); distributed port and call for a wider search: Sunneborn Gudnadottir et al.,
arXiv:2109.00264.  Data: HLS4ML jet files (``data_path``) or jets generated locally with Pythia 8 +
FastJet into the same layout (``prepare``; cached under ``$HPO_CACHE/ucluster/<hash>``, default
``~/.cache/hpo/ucluster/<hash>``).  See README.md in this folder.
"""
from __future__ import annotations

import logging
import os

from hpo import distributed
from hpo.errors import ConfigError

from ..accel import PRECISIONS
from .data import MASS_TARGETS
from .generate import GenerationParams, cached_dataset
from .model import EMBED_ACTS, POOLS
from .training import DEFAULTS, train_loop

log = logging.getLogger(__name__)

DEFAULT_METRIC = "cluster_acc"
DEFAULT_MODE = "max"
#: fixed arguments that choose the generated sample (used when ``data_path`` is not given)
GENERATION_ARGS = {"jets_per_class": 600, "data_seed": 0, "gen_workers": None, "mpi": True,
                   "jets_per_chunk": 200, "progress": True}
_POSITIVE = ("lr", "lr_min", "batch_size", "width", "k", "n_clusters", "n_mass_bins", "embed_dim",
             "eval_batch_size", "kmeans_init_jets", "jets_per_class", "jets_per_chunk")


def _key(name: str) -> str:
    return f"trainable.args.{name}"


def validate_args(args: dict, max_epochs: int | None = None) -> dict:
    """Check the fixed arguments before any trial starts; returns them unchanged."""
    known = set(DEFAULTS) | set(GENERATION_ARGS) | {"data_path"}
    for name, value in args.items():
        if name not in known:
            raise ConfigError(f"unknown ucluster argument {name!r}; known: {', '.join(sorted(known))}", _key(name))
        if name in _POSITIVE and value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"must be a positive number, got {value!r}", _key(name))
    for name in ("data_path", "val_path", "test_path"):
        path = args.get(name)
        if path is not None and not os.path.exists(path):
            raise ConfigError(f"no such file or directory: {path!r}", _key(name))
    pre = args.get("pretrain_epochs")
    if max_epochs is not None and pre is not None and int(pre) >= int(max_epochs):
        raise ConfigError(f"pretrain_epochs {pre} >= max_epochs {max_epochs}: clustering would never start",
                          _key("pretrain_epochs"))
    for name, allowed in (("pool", POOLS), ("embed_act", EMBED_ACTS), ("mass_target", MASS_TARGETS),
                          ("precision", PRECISIONS)):
        if name in args and args[name] not in allowed:
            raise ConfigError(f"must be one of {', '.join(allowed)}, got {args[name]!r}", _key(name))
    if "z_norm" in args and not isinstance(args["z_norm"], bool):
        raise ConfigError(f"must be true or false, got {args['z_norm']!r}", _key("z_norm"))
    frac = args.get("val_fraction", DEFAULTS["val_fraction"])
    if not 0 < float(frac) < 1:
        raise ConfigError(f"must be between 0 and 1, got {frac!r}", _key("val_fraction"))
    return args


def generation_params(args: dict) -> GenerationParams:
    g = {**GENERATION_ARGS, **{k: v for k, v in args.items() if k in GENERATION_ARGS}}
    return GenerationParams(jets_per_class=int(g["jets_per_class"]), seed=int(g["data_seed"]),
                            mpi=bool(g["mpi"]), jets_per_chunk=int(g["jets_per_chunk"]))


def prepare(args: dict) -> dict:
    """Driver side: without ``data_path``, generate the sample once into the cache and point to it."""
    if args.get("data_path"):
        return {**args, "data_path": os.path.abspath(args["data_path"])}
    workers = args.get("gen_workers") or min(2, os.cpu_count() or 1)
    path = cached_dataset(generation_params(args), workers=int(workers), progress=bool(args.get("progress", True)))
    log.info("ucluster: generated jets at %s", path)
    return {**args, "data_path": path}


def train(config: dict) -> None:
    """One trial; ``config`` = sampled hyperparameters + fixed args + ``max_epochs``."""
    if not config.get("data_path"):
        # prepare() normally ran on the driver; the cache makes this a lookup, not a second generation
        log.info("ucluster: no data_path in config, resolving the generated sample in the trial")
        config = prepare({**config, "progress": False})
    distributed.run_data_parallel(train_loop, config)


__all__ = ["train", "prepare", "validate_args", "DEFAULT_METRIC", "DEFAULT_MODE"]
