"""Experiment description: YAML file or keyword arguments -> validated ``ExperimentConfig``.

Everything is checked here, before Ray starts: a bad file ends with one line naming the file,
the key and the problem (``ConfigError``).  CLI flags and library keyword arguments override the
file through ``apply_overrides``.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import registry, yaml_loader
from .errors import ConfigError
from .space import Choice, Distribution, parse_space

SPACES_DIR = Path(__file__).resolve().parent.parent / "search_spaces"
TOP_KEYS = {"name", "trainable", "metric", "mode", "hyperparameters", "budget", "scheduler", "search", "tracking",
            "predictor", "resources", "seed", "storage"}


MAX_SAMPLES = 100_000     # trials per experiment (the trial table lives in the driver's memory)
MAX_EPOCHS = 1_000_000
MAX_SEED = 2**32 - 1      # numpy's RandomState (used by the searchers) takes seeds below 2**32


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bools(cls, v, info):
        field_type = cls.model_fields[info.field_name].annotation
        if isinstance(v, bool) and field_type is not bool:
            raise ValueError("must be a number, not true/false")
        return v


class Budget(_Strict):
    num_samples: int = Field(10, ge=1, le=MAX_SAMPLES)
    max_epochs: int = Field(10, ge=1, le=MAX_EPOCHS)
    time_limit_s: float | None = Field(None, gt=0)

    @field_validator("num_samples", "max_epochs", mode="before")
    @classmethod
    def _counts_are_integers(cls, v):
        if isinstance(v, float):  # pydantic would take 1e9 or 10.0 as an int: a count is written as one
            raise ValueError("must be an integer, not a float")
        return v


class Resources(_Strict):
    workers_per_trial: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    max_concurrent: int | None = Field(None, ge=1)
    num_cpus: int | None = Field(None, ge=1)  # embedded local Ray only; default: detected


@dataclass
class Component:
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}


@dataclass
class ExperimentConfig:
    name: str
    trainable: str
    trainable_args: dict[str, Any]
    metric: str
    mode: str
    space: dict[str, Distribution]
    budget: Budget
    scheduler: Component
    search: Component
    predictor: Component | None
    resources: Resources
    seed: int | None = 0
    storage: str = "./hpo_results"
    tracking: list[str] = field(default_factory=list)  # "tensorboard", "mlflow": live curves in those tools
    source: str = "<call>"
    address: str | None = None
    dashboard_host: str = "127.0.0.1"

    def as_dict(self) -> dict[str, Any]:
        """The resolved experiment, in the YAML schema (written to the results directory)."""
        return {
            "name": self.name,
            "trainable": {"name": self.trainable, "args": dict(self.trainable_args)},
            "metric": self.metric, "mode": self.mode,
            "hyperparameters": {k: d.as_dict() for k, d in self.space.items()},
            "budget": self.budget.model_dump(), "scheduler": self.scheduler.as_dict(),
            "search": self.search.as_dict(),
            "predictor": self.predictor.as_dict() if self.predictor else None,
            "resources": self.resources.model_dump(), "seed": self.seed, "storage": self.storage,
            **({"tracking": list(self.tracking)} if self.tracking else {}),
        }


# ---------------------------------------------------------------- YAML loading
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``${VAR}`` / ``${VAR:-default}`` in strings.  A list or mapping reached twice (a YAML alias, a
    shared object) is expanded once and shared again, so the work is linear in the document."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if not isinstance(value, (dict, list)):
        return value
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, dict):
        out: Any = memo.setdefault(id(value), {})
        out.update((k, _expand_env(v, memo)) for k, v in value.items())
    else:
        out = memo.setdefault(id(value), [])
        out.extend(_expand_env(v, memo) for v in value)
    return out


def resolve_space_path(space: str | os.PathLike) -> Path:
    p = Path(space)
    if p.is_file():
        return p
    if not p.is_absolute() and len(p.parts) == 1 and (SPACES_DIR / p).is_file():
        return SPACES_DIR / p
    raise ConfigError(f"search-space file not found (looked at {p} and {SPACES_DIR / p.name})",
                      source=str(space))


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a space file within ``yaml_loader``'s limits (size, alias expansion, duplicate keys)."""
    data = yaml_loader.load_text(yaml_loader.read_limited(path), str(path))
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a mapping of experiment keys", source=str(path))
    return data


# ---------------------------------------------------------------- validation
def _component(raw: Any, key: str, default: str | None) -> Component | None:
    if raw is None:
        return Component(default) if default else None
    if isinstance(raw, str):
        return Component(raw)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise ConfigError("must be a name or a mapping with a 'name'", key)
    opts = {k: v for k, v in raw.items() if k != "name"}
    return Component(raw["name"], opts)


def _model(cls, raw: Any, key: str):
    if raw is None:
        return cls()
    if not isinstance(raw, Mapping):
        raise ConfigError("must be a mapping", key)
    try:
        return cls(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{msg} (got {err.get('input')!r})" if err["type"] != "extra_forbidden" else msg,
                          f"{key}.{loc}") from None


def _resolve_args(args: dict[str, Any], base: Path | None) -> dict[str, Any]:
    """Relative paths (strings starting with ./ or ../) resolve against the YAML file's folder."""
    out = {}
    for k, v in args.items():
        if base is not None and isinstance(v, str) and (v.startswith("./") or v.startswith("../")):
            v = str((base / v).resolve())
        out[k] = v
    return out


def from_dict(data: Mapping[str, Any], source: str = "<call>", base: Path | None = None) -> ExperimentConfig:
    try:
        return _from_dict(_expand_env(dict(data)), source, base)
    except ConfigError as exc:
        raise exc.with_source(source) from None


def _from_dict(data: dict[str, Any], source: str, base: Path | None) -> ExperimentConfig:
    for k in data:
        if k not in TOP_KEYS:
            raise ConfigError(f"unknown key; allowed keys are {', '.join(sorted(TOP_KEYS))}", str(k))
    tr = data.get("trainable")
    if isinstance(tr, str):
        tr = {"name": tr}
    if not isinstance(tr, Mapping) or not isinstance(tr.get("name"), str):
        raise ConfigError("must be a mapping with a 'name' (registered trainable or module:function)",
                          "trainable")
    if extra := sorted(set(tr) - {"name", "args"}):
        raise ConfigError("unknown key", f"trainable.{extra[0]}")
    args = tr.get("args") or {}
    if not isinstance(args, Mapping):
        raise ConfigError("must be a mapping", "trainable.args")
    metric = data.get("metric", "val_loss")
    if not isinstance(metric, str) or not metric:
        raise ConfigError("must be a metric name", "metric")
    mode = data.get("mode", "min")
    if mode not in ("min", "max"):
        raise ConfigError(f"must be 'min' or 'max', got {mode!r}", "mode")
    seed = data.get("seed", 0)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise ConfigError(f"must be a non-negative integer below 2**32, got {seed!r}", "seed")
    storage = data.get("storage", "./hpo_results")
    if not isinstance(storage, str):
        raise ConfigError("must be a directory path", "storage")
    tracking = _tracking(data.get("tracking"))
    name = data.get("name") or (Path(source).stem if source not in ("<call>", "<cli>") else "experiment")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ConfigError(f"must use letters, digits, '_', '-', '.', got {name!r}", "name")
    cfg = ExperimentConfig(
        name=name, trainable=tr["name"], trainable_args=_resolve_args(dict(args), base),
        metric=metric, mode=mode, space=parse_space(data.get("hyperparameters")),
        budget=_model(Budget, data.get("budget"), "budget"),
        scheduler=_component(data.get("scheduler"), "scheduler", "fifo"),
        search=_component(data.get("search"), "search", "random"),
        predictor=_component(data.get("predictor"), "predictor", None),
        resources=_model(Resources, data.get("resources"), "resources"),
        seed=seed, storage=storage, tracking=tracking, source=source,
    )
    return validate(cfg)


TRACKERS = {"tensorboard": "tensorboardX", "mlflow": "mlflow"}  # tool -> the package its logger needs


def _tracking(raw: Any) -> list[str]:
    """``tracking: [tensorboard, mlflow]``: Ray Tune's logger callbacks, writing under the experiment."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        raise ConfigError("must be a list of tools (tensorboard, mlflow)", "tracking")
    for t in items:
        if t not in TRACKERS:
            raise ConfigError(f"unknown tool {t!r}; choose from {', '.join(TRACKERS)}", "tracking")
        import importlib.util

        if importlib.util.find_spec(TRACKERS[t]) is None:
            raise ConfigError(f"{t} needs the package {TRACKERS[t]!r}: pip install -e '.[tracking]'", "tracking")
    return list(dict.fromkeys(items))


def load(space: str | os.PathLike, **overrides: Any) -> ExperimentConfig:
    """Load and validate a space file, with CLI-style ``overrides`` merged in first."""
    path = resolve_space_path(space)
    address, host = overrides.pop("address", None), overrides.pop("dashboard_host", None)
    cfg = from_dict(merge_overrides(load_yaml(path), source=str(path), **overrides), source=str(path),
                    base=path.parent)
    cfg.address, cfg.dashboard_host = address, host or cfg.dashboard_host
    return cfg


def validate(cfg: ExperimentConfig) -> ExperimentConfig:
    """Check components and their options (no Ray cluster is started)."""
    from .components import Context, spec

    ctx = Context(cfg.budget.max_epochs, cfg.space)
    scheduler = spec("scheduler", cfg.scheduler.name)
    cfg.scheduler.options = scheduler.check(cfg.scheduler.options, ctx)
    if scheduler.needs_predictor and cfg.predictor is None:
        cfg.predictor = Component("svr")
    if cfg.predictor is not None:
        cfg.predictor.options = spec("predictor", cfg.predictor.name).check(cfg.predictor.options, ctx)
    cfg.search.options = spec("search", cfg.search.name).check(cfg.search.options, ctx)
    grids = [len(d.values) for d in cfg.space.values() if isinstance(d, Choice) and d.grid]
    if grids and cfg.search.name != "grid" and cfg.budget.num_samples * math.prod(grids) > MAX_SAMPLES:
        raise ConfigError(f"{cfg.budget.num_samples} samples of a {math.prod(grids)}-point grid make more than "
                          f"{MAX_SAMPLES} trials", "budget.num_samples")
    mod, _ = registry.trainable_module(cfg.trainable)
    if hasattr(mod, "validate_args"):
        import inspect

        kw = {}
        if "max_epochs" in inspect.signature(mod.validate_args).parameters:
            kw["max_epochs"] = cfg.budget.max_epochs
        cfg.trainable_args = mod.validate_args(dict(cfg.trainable_args), **kw) or cfg.trainable_args
    return cfg


def fresh_name(cfg: ExperimentConfig) -> str:
    """Default run name: the space's name plus a timestamp, so re-running never collides."""
    import time

    base = f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, i = base, 1
    while (Path(cfg.storage).expanduser() / name).exists():
        i += 1
        name = f"{base}-{i}"
    return name


OVERRIDES = ("num_samples", "max_epochs", "time_limit_s", "scheduler", "search", "predictor",
             "workers_per_trial", "cpus_per_worker", "gpus_per_worker", "max_concurrent", "num_cpus",
             "address", "name", "storage", "seed", "metric", "mode", "dashboard_host")


_BUDGET_KEYS = ("num_samples", "max_epochs", "time_limit_s")
_RESOURCE_KEYS = ("workers_per_trial", "cpus_per_worker", "gpus_per_worker", "max_concurrent", "num_cpus")


def merge_overrides(data: Mapping[str, Any], source: str = "<cli>", **kw: Any) -> dict[str, Any]:
    """The experiment document with CLI flags / keyword arguments merged in, before validation
    (so a file's value that an override replaces is never checked).  ``None`` keeps the file's.
    ``address`` and ``dashboard_host`` are not part of the document and are not accepted here."""
    kw = {k: v for k, v in kw.items() if v is not None}
    if unknown := sorted(set(kw) - set(OVERRIDES) | ({"address", "dashboard_host"} & set(kw))):
        raise ConfigError(f"unknown option {unknown[0]!r}", unknown[0], source)
    out = dict(data)
    for section, keys in (("budget", _BUDGET_KEYS), ("resources", _RESOURCE_KEYS)):
        given = {k: kw[k] for k in keys if k in kw}
        if given:
            old = out.get(section) if isinstance(out.get(section), Mapping) else {}
            out[section] = {**old, **given}
    for key in ("scheduler", "search", "predictor"):
        if key in kw:
            new = kw[key].as_dict() if isinstance(kw[key], Component) else kw[key]
            old = out.get(key)
            old_name = old if isinstance(old, str) else old.get("name") if isinstance(old, Mapping) else None
            new_name = new if isinstance(new, str) else new.get("name") if isinstance(new, Mapping) else None
            if isinstance(new, str) and new_name == old_name:
                new = old  # same component named again: keep the file's options
            out[key] = new
    for key in ("name", "storage", "seed", "metric", "mode"):
        if key in kw:
            out[key] = kw[key]
    return out


def apply_overrides(cfg: ExperimentConfig, source: str = "<cli>", **kw: Any) -> ExperimentConfig:
    """Override a validated config (CLI flags / keyword arguments); ``None`` means "keep"."""
    address, host = kw.pop("address", None), kw.pop("dashboard_host", None)
    out = from_dict(merge_overrides(cfg.as_dict(), source=source, **kw),
                    source=cfg.source if source == "<cli>" else source)
    out.address = address or cfg.address
    out.dashboard_host = host or cfg.dashboard_host
    return out
