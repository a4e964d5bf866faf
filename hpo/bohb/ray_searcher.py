"""Ray Tune ``Searcher`` around :class:`hpo.bohb.core.BOHBCore` (BOHB, Falkner et al., ICML 2018).

The budget of an observation is the trial's epoch count ``result["hpo_epoch"]``
(:data:`hpo.session.EPOCH_KEY`, monotonic across PAUSE/resume), so the searcher works with any
scheduler (ASHA, Hyperband, FIFO): every reported epoch is an observation at that budget, and a
trial's later report at the same budget replaces its earlier one.  Losses are negated when the
experiment maximises, because the core minimises.
"""
from __future__ import annotations

import json
import logging
import math
from typing import Any, Mapping

from ray.tune.search import Searcher

from ..session import EPOCH_KEY
from ..space import Choice, Distribution, IntRange, Uniform
from .core import BOHBCore

logger = logging.getLogger(__name__)


def space_from_tune(config: Mapping[str, Any]) -> dict[str, Distribution]:
    """Distributions for the top-level Tune domains of ``config`` (constants are left to Tune)."""
    from ray.tune.search import sample

    space: dict[str, Distribution] = {}
    for name, dom in config.items():
        if isinstance(dom, dict) and "grid_search" in dom:
            raise ValueError(f"BOHB cannot handle tune.grid_search ({name!r})")
        if not isinstance(dom, sample.Domain):
            continue
        sampler = dom.get_sampler()
        q = None
        if isinstance(sampler, sample.Quantized):
            q, sampler = sampler.q, sampler.get_sampler()
        log = isinstance(sampler, sample.LogUniform)
        if isinstance(dom, sample.Categorical) and isinstance(sampler, sample.Uniform):
            space[name] = Choice(tuple(dom.categories))
        elif isinstance(dom, sample.Float) and isinstance(sampler, (sample.Uniform, sample.LogUniform)):
            space[name] = Uniform(dom.lower, dom.upper, q=q, log=log)
        elif isinstance(dom, sample.Integer) and q is None and isinstance(sampler, (sample.Uniform,
                                                                                      sample.LogUniform)):
            space[name] = IntRange(dom.lower, dom.upper - 1, log)  # Tune's randint excludes upper
        else:
            raise ValueError(f"BOHB cannot handle the Tune domain of {name!r} ({type(dom).__name__}, "
                             f"{type(sampler).__name__})")
    return space


class BOHBSearcher(Searcher):
    """``BOHBSearcher(space, metric, mode, seed, **core_options)``; ``space`` maps names to
    :mod:`hpo.space` distributions (or is None and comes later from ``set_search_properties``)."""

    def __init__(self, space: Mapping[str, Distribution] | None = None, metric: str | None = None,
                 mode: str | None = None, seed: int | None = None, **core_options: Any):
        super().__init__(metric=metric, mode=mode)
        self._seed, self._core_options = seed, dict(core_options)
        self.core = BOHBCore(space, seed, **core_options) if space else None
        self._live: dict[str, dict[str, Any]] = {}  # trial id -> suggested config
        self._warned: set[str] = set()

    # -- Searcher API ---------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        if self.core is not None:  # our own space is set; Tune then refuses unresolved domains
            self._metric = self._metric or metric
            self._mode = self._mode or mode
            return False
        space = space_from_tune(config)
        if not space:
            return False
        self.core = BOHBCore(space, self._seed, **self._core_options)
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.core is None:
            raise RuntimeError("BOHBSearcher has no search space: pass `space` or a Tune param_space")
        if not self._metric or self._mode not in ("min", "max"):
            raise RuntimeError("BOHBSearcher needs `metric` and `mode` ('min' or 'max')")
        config = self.core.suggest()
        self._live[trial_id] = config
        return dict(config)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._record(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if result and not error:
            self._record(trial_id, result)
        self._live.pop(trial_id, None)

    # -- internals ------------------------------------------------------------------------------
    def _warn_once(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            logger.warning(message)

    def _record(self, trial_id: str, result: Mapping[str, Any]) -> None:
        config = self._live.get(trial_id)
        if config is None or self.core is None:
            return
        if self._metric not in result or EPOCH_KEY not in result:
            missing = self._metric if self._metric not in result else EPOCH_KEY
            self._warn_once(missing, f"BOHB ignores results without {missing!r} (report with hpo.report)")
            return
        try:
            loss = float(result[self._metric])
        except (TypeError, ValueError):
            loss = math.nan  # recorded as the worst loss
        if self._mode == "max":
            loss = -loss
        self.core.observe(config, int(result[EPOCH_KEY]), loss, key=trial_id)

    # -- state ----------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"metric": self._metric, "mode": self._mode, "seed": self._seed,
                "core_options": self._core_options, "live": self._live,
                "core": self.core.get_state() if self.core is not None else None}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._metric, self._mode, self._seed = state["metric"], state["mode"], state["seed"]
        self._core_options = dict(state["core_options"])
        self._live = {k: dict(v) for k, v in state["live"].items()}
        core = state["core"]
        if core is None:
            self.core = None
            return
        if self.core is None:
            self.core = BOHBCore(core["space"], self._seed, **self._core_options)
        self.core.set_state(core)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as fh:
            json.dump(self.get_state(), fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as fh:
            self.set_state(json.load(fh))
