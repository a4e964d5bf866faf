"""One Ray Tune ``Searcher`` for every ``hpo.protocols.Searcher`` (ours: BOHB).

The adapter reads the epoch from ``result["hpo_epoch"]`` (monotonic across PAUSE/resume) and
turns the metric into a loss with :class:`hpo.protocols.Objective`; a result without the metric
or the epoch is skipped with one warning, a non-numeric metric counts as the worst loss.  When it
is built without a space it takes Tune's ``param_space`` (``make(space)`` builds the searcher
then).  ``save``/``restore`` write the searcher's JSON state, so ``--resume`` continues exactly.
"""
from __future__ import annotations

import json
import logging
import math
from typing import Any, Callable, Mapping

from ray.tune.search import Searcher as TuneSearcher

from hpo.protocols import EPOCH_KEY, Objective, Searcher
from hpo.space import Distribution, parse_space

from .runtime import FAULT_KEY
from .space import space_from_tune, to_tune_space

logger = logging.getLogger(__name__)
Factory = Callable[[Mapping[str, Distribution]], Searcher]


class SearcherAdapter(TuneSearcher):
    def __init__(self, make: Factory, space: Mapping[str, Distribution] | None = None,
                 metric: str | None = None, mode: str | None = None):
        super().__init__(metric=metric, mode=mode)
        self.make = make
        self.space = dict(space) if space else None
        # not named ``searcher``: Tune unwraps wrapper searchers through that attribute
        self.inner: Searcher | None = make(self.space) if self.space else None
        self._warned: set[str] = set()

    # ---- Tune's Searcher API -------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        if self.inner is not None:  # our own space is set; Tune then refuses unresolved domains
            self._metric = self._metric or metric
            self._mode = self._mode or mode
            return False
        space = space_from_tune(config)
        if not space:
            return False
        self.space, self.inner = space, self.make(space)
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.inner is None:
            raise RuntimeError("the searcher has no search space: pass `space` or a Tune param_space")
        if not self._metric or self._mode not in ("min", "max"):
            raise RuntimeError("the searcher needs `metric` and `mode` ('min' or 'max')")
        if self.inner.finished:
            return TuneSearcher.FINISHED
        return self.inner.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._record(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if self.inner is None:
            return
        if result and not error:
            self._record(trial_id, result)
        self.inner.on_complete(trial_id)

    def _record(self, trial_id: str, result: Mapping[str, Any]) -> None:
        if self.inner is None or result.get(FAULT_KEY):  # a failed trial's fault report teaches nothing
            return
        if self._metric not in result or EPOCH_KEY not in result:
            missing = self._metric if self._metric not in result else EPOCH_KEY
            if missing not in self._warned:
                self._warned.add(missing)
                logger.warning("the searcher ignores results without %r (report with hpo.report)", missing)
            return
        try:
            loss = Objective(self._metric, self._mode).loss(float(result[self._metric]))
        except (TypeError, ValueError):
            loss = math.inf  # a non-numeric metric is the worst loss
        self.inner.on_result(trial_id, int(result[EPOCH_KEY]), loss)

    # ---- state -----------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"metric": self._metric, "mode": self._mode,
                "space": {k: d.as_dict() for k, d in self.space.items()} if self.space else None,
                "searcher": self.inner.get_state() if self.inner is not None else None}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._metric, self._mode = state["metric"], state["mode"]
        if state["space"] is None:
            self.space, self.inner = None, None
            return
        self.space = parse_space(state["space"])
        if self.inner is None:
            self.inner = self.make(self.space)
        self.inner.set_state(state["searcher"])

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as fh:
            json.dump(self.get_state(), fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as fh:
            self.set_state(json.load(fh))


def bohb(space: Mapping[str, Distribution] | None = None, metric: str | None = None, mode: str | None = None,
         seed: int | None = None, **core_options: Any) -> SearcherAdapter:
    """BOHB for Tune; without ``space`` it takes Tune's ``param_space``."""
    from hpo.bohb.searcher import BOHBSearcher

    return SearcherAdapter(lambda sp: BOHBSearcher(sp, seed, **core_options), space, metric, mode)


def convert_space(name: str, space: Mapping[str, Distribution]):
    """The space in Optuna's (``tpe``) or HyperOpt's (``hyperopt``) own terms, through Ray's adapters."""
    tune_space = to_tune_space(space)
    if name == "tpe":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch.convert_search_space(tune_space)
    from ray.tune.search.hyperopt import HyperOptSearch

    return HyperOptSearch.convert_search_space(tune_space)


def _random(options, space, objective, seed, max_concurrent):
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent or 0), to_tune_space(space), None


def _grid(options, space, objective, seed, max_concurrent):
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    grid = {k: tune.grid_search(d.grid_values()) for k, d in space.items()}
    return BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent or 0), grid, 1


def _tpe(options, space, objective, seed, max_concurrent):
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=options.get("n_startup_trials", 10),
                                         multivariate=options.get("multivariate", False))
    return (OptunaSearch(space=convert_space("tpe", space), metric=objective.metric, mode=objective.mode,
                         sampler=sampler), {}, None)


def _hyperopt(options, space, objective, seed, max_concurrent):
    from ray.tune.search.hyperopt import HyperOptSearch

    return (HyperOptSearch(space=convert_space("hyperopt", space), metric=objective.metric, mode=objective.mode,
                           random_state_seed=seed, n_initial_points=options.get("n_initial_points", 20)), {}, None)


TUNE_SEARCHERS = {"random": _random, "grid": _grid, "tpe": _tpe, "hyperopt": _hyperopt}


def build(name: str, options: Mapping[str, Any], space: Mapping[str, Distribution], *, objective: Objective,
          seed: int | None, max_epochs: int, max_concurrent: int | None = None) -> tuple[Any, dict[str, Any], int | None]:
    """Return (Tune search_alg, Tune param_space, num_samples override or None) for a named searcher
    whose options its spec has checked: ours behind :class:`SearcherAdapter`, or Tune's own.
    ``max_concurrent`` caps Tune's variant generator (random, grid) itself: Tune's
    ``max_concurrent_trials`` only wraps ``Searcher``s."""
    from hpo.components import Context, spec

    s = spec("search", name)
    if s.build is not None:
        inner = s.build(dict(options), Context(max_epochs, space), seed)
        return SearcherAdapter(lambda sp: inner, space, objective.metric, objective.mode), {}, None
    return TUNE_SEARCHERS[name](options, space, objective, seed, max_concurrent)
