"""BOHB as an ``hpo.protocols.Searcher`` (Falkner, Klein & Hutter, ICML 2018).

The budget of an observation is the trial's epoch count, so the searcher works under any
scheduler (ASHA, Hyperband, FIFO): every reported epoch is an observation at that budget, and a
trial's later report at the same budget replaces its earlier one.  Losses are minimised (the
caller applies the objective's sign).  Ray reaches it through :class:`hpo.ray.searcher.SearcherAdapter`.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..space import Distribution
from .core import BOHBCore


class BOHBSearcher:
    def __init__(self, space: Mapping[str, Distribution], seed: int | None = None, **core_options: Any):
        self.seed, self.core_options = seed, dict(core_options)
        self.core = BOHBCore(space, seed, **core_options)
        self._live: dict[str, dict[str, Any]] = {}  # trial id -> suggested config

    @property
    def finished(self) -> bool:
        return False  # BOHB proposes for as long as it is asked

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = self.core.suggest()
        self._live[trial_id] = config
        return dict(config)

    def on_result(self, trial_id: str, epoch: int, loss: float) -> None:
        config = self._live.get(trial_id)
        if config is not None:  # not suggested by us: ignored
            self.core.observe(config, int(epoch), loss, key=trial_id)

    def on_complete(self, trial_id: str) -> None:
        self._live.pop(trial_id, None)

    def get_state(self) -> dict[str, Any]:
        return {"seed": self.seed, "core_options": self.core_options, "live": self._live,
                "core": self.core.get_state()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.seed, self.core_options = state["seed"], dict(state["core_options"])
        self._live = {k: dict(v) for k, v in state["live"].items()}
        self.core = BOHBCore(state["core"]["space"], self.seed, **self.core_options)
        self.core.set_state(state["core"])
