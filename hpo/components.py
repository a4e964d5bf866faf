"""One spec per component: the names YAML, the CLI and ``hpo.tune`` accept, each with its options
check, its builder and its traits.

A role's specs are declared beside its implementations (``hpo.schedulers.SPECS``,
``hpo.searchers.SPECS``, ``predictors.SPECS``); everything that chooses a component by name goes
through :func:`spec`, so a name is validated, built and described in one place.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import ConfigError

ROLES = {"scheduler": "hpo.schedulers", "search": "hpo.searchers", "predictor": "predictors"}


@dataclass(frozen=True)
class Context:
    """What an options check may need to know about the experiment."""
    max_epochs: int
    space: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    """``validate(options, ctx) -> options`` fills defaults and raises ``ConfigError`` naming the
    option; ``build(options, ctx, seed, **role_args)`` makes the component (None: Tune builds it,
    see :mod:`hpo.ray`); the traits say how the service must run it."""
    role: str
    name: str
    summary: str
    validate: Callable[[Mapping[str, Any], Context], dict[str, Any]]
    build: Callable[..., Any] | None = None
    pauses: Callable[[Mapping[str, Any]], bool] = lambda options: False
    needs_predictor: bool = False
    planned_trials: Callable[[Mapping[str, Any], int], int | None] = lambda options, max_epochs: None

    def check(self, options: Mapping[str, Any] | None, ctx: Context) -> dict[str, Any]:
        options = dict(options or {})
        options.pop("name", None)
        return self.validate(options, ctx)


def specs(role: str) -> dict[str, Spec]:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    return dict(importlib.import_module(ROLES[role]).SPECS)


def names(role: str) -> list[str]:
    return list(specs(role))


def spec(role: str, name: Any) -> Spec:
    """The spec of ``name`` for ``role``, or a ``ConfigError`` at ``<role>.name`` listing the choices."""
    known = specs(role)
    if not isinstance(name, str) or name not in known:
        raise ConfigError(f"unknown {'searcher' if role == 'search' else role} {name!r}; choose one of "
                          f"{', '.join(known)}", f"{role}.name")
    return known[name]
