"""Fixed arguments of the ``mlpf`` trainable: defaults, validation and the driver-side ``prepare`` hook.

``prepare`` generates the small default sample once into ``<cache>/mlpf/<hash of the data settings>``
(cache = ``cache_dir`` arg, else ``$HPO_CACHE``, else ``~/.cache/hpo``) and reuses it afterwards; with
``data_dir`` set, the user's own shards are used instead (layout in README.md).
"""
from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os

from hpo.errors import ConfigError

from ..accel import PRECISIONS

from .generate import GENERATOR_VERSION, PROCESSES, ensure_dataset
from .loss import DEFAULT_WEIGHTS
from .model import MODEL_DEFAULTS, MODEL_TYPES
from .schema import SchemaError, list_shards, read_shard

log = logging.getLogger("hpo.mlpf")

DATA_DEFAULTS = {"data_dir": None, "cache_dir": None, "n_train": 2000, "n_val": 400,
                 "processes": list(PROCESSES), "data_seed": 0, "events_per_shard": 250, "gen_workers": None,
                 "max_train_events": None, "max_val_events": None}
TRAIN_DEFAULTS = {"lr": 1e-3, "weight_decay": 0.0, "batch_size": 16, "lr_schedule": "cosine",
                  "lr_scale_with_workers": False, "seed": 0, "loss_weights": None, "physics_metrics": True,
                  "max_epochs": 4, "progress": False,
                  # speed options (trainables/accel.py, loader.py); the defaults reproduce the plain CPU loop
                  "precision": "fp32", "compile": False, "bucket_window": 8}
KNOWN_KEYS = set(DATA_DEFAULTS) | set(TRAIN_DEFAULTS) | set(MODEL_DEFAULTS)
_DATA_PARAMS = ("n_train", "n_val", "processes", "data_seed", "events_per_shard")


def with_defaults(config: dict) -> dict:
    out = {**DATA_DEFAULTS, **TRAIN_DEFAULTS, **MODEL_DEFAULTS}
    out.update({k: v for k, v in config.items() if v is not None or k not in out})
    return out


def _key(name: str) -> str:
    return f"trainable.args.{name}"


def validate_args(args: dict) -> dict:
    """Check the fixed arguments before anything starts; raises ``ConfigError``."""
    for k in args:
        if k not in KNOWN_KEYS:
            close = difflib.get_close_matches(k, sorted(KNOWN_KEYS), n=1, cutoff=0.8)
            if close:
                raise ConfigError(f"unknown argument {k!r}; did you mean {close[0]!r}?", _key(k))
    model = args.get("model", MODEL_DEFAULTS["model"])
    if model not in MODEL_TYPES:
        raise ConfigError(f"model must be one of {', '.join(MODEL_TYPES)}, got {model!r}", _key("model"))
    for k in ("n_train", "n_val", "events_per_shard", "batch_size"):
        if k in args and (not isinstance(args[k], int) or args[k] < 1):
            raise ConfigError(f"must be a positive integer, got {args[k]!r}", _key(k))
    procs = args.get("processes", PROCESSES)
    bad = [p for p in procs if p not in PROCESSES]
    if isinstance(procs, str) or bad or not procs:
        raise ConfigError(f"processes must be a non-empty list from {list(PROCESSES)}", _key("processes"))
    if args.get("lr_schedule", "cosine") not in ("constant", "cosine"):
        raise ConfigError("lr_schedule must be 'constant' or 'cosine'", _key("lr_schedule"))
    if args.get("precision", "fp32") not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {args['precision']!r} "
                          "(fp16 needs a CUDA device)", _key("precision"))
    if "compile" in args and not isinstance(args["compile"], bool):
        raise ConfigError(f"must be true or false, got {args['compile']!r}", _key("compile"))
    bw = args.get("bucket_window", 8)
    if isinstance(bw, bool) or not isinstance(bw, int) or bw < 0:
        raise ConfigError(f"must be a non-negative integer (batches per size-sorting window, 0 = the whole "
                          f"epoch), got {bw!r}", _key("bucket_window"))
    lw = args.get("loss_weights") or {}
    if not isinstance(lw, dict) or any(k not in DEFAULT_WEIGHTS for k in lw):
        raise ConfigError(f"loss_weights keys must be among {sorted(DEFAULT_WEIGHTS)}", _key("loss_weights"))
    if args.get("physics_metrics", True):
        try:
            import fastjet  # noqa: F401
        except ImportError:
            raise ConfigError("physics_metrics needs fastjet (pip install fastjet), or set physics_metrics: "
                              "false", _key("physics_metrics")) from None
    if args.get("data_dir"):
        check_data_dir(args["data_dir"])
    return dict(args)


def check_data_dir(data_dir: str) -> None:
    if not os.path.isdir(data_dir):
        raise ConfigError(f"data directory {data_dir!r} does not exist", _key("data_dir"))
    for split in ("train", "val"):
        shards = list_shards(data_dir, split)
        if not shards:
            raise ConfigError(f"no Parquet shards in {os.path.join(data_dir, split)!r} (expected "
                              f"<data_dir>/{split}/*.parquet, see trainables/mlpf/README.md)", _key("data_dir"))
    try:
        read_shard(list_shards(data_dir, "val")[0])
    except (SchemaError, OSError, Exception) as exc:  # noqa: BLE001 - any unreadable shard is a config problem
        raise ConfigError(f"cannot read shard: {exc}", _key("data_dir")) from None


def data_params(args: dict) -> dict:
    a = with_defaults(args)
    p = {k: a[k] for k in _DATA_PARAMS}
    p["processes"] = list(p["processes"])
    return p


def cache_path(args: dict) -> str:
    p = data_params(args)
    digest = hashlib.sha256(json.dumps({**p, "generator_version": GENERATOR_VERSION},
                                       sort_keys=True).encode()).hexdigest()[:12]
    root = args.get("cache_dir") or os.environ.get("HPO_CACHE") or os.path.join("~", ".cache", "hpo")
    return os.path.join(os.path.abspath(os.path.expanduser(root)), "mlpf", digest)


def prepare(args: dict) -> dict:
    """Resolve ``data_dir``: the user's shards, or the default sample (generated on first use)."""
    args = dict(args)
    if args.get("data_dir"):
        check_data_dir(args["data_dir"])
        return args
    path = cache_path(args)
    p = data_params(args)
    if not os.path.exists(os.path.join(path, "dataset.json")):
        log.warning("generating the MLPF sample (%d train + %d val events) into %s", p["n_train"], p["n_val"], path)
    workers = args.get("gen_workers") or min(os.cpu_count() or 1, 8)
    p["seed"] = p.pop("data_seed")
    ensure_dataset(path, p, workers=int(workers), progress=True)
    args["data_dir"] = path
    return args
