"""BOHB's model-based sampler, without Ray: a TPE-style pair of kernel density estimates per budget.

Falkner, Klein & Hutter, "BOHB: Robust and Efficient Hyperparameter Optimization at Scale",
ICML 2018, Algorithm 2: observations are kept per budget; the model of the *largest* budget with
at least ``min_points_in_model + 2`` observations is used.  Its observations are split into the
best ``max(min_points_in_model, top_n_percent %)`` ("good", density l) and the rest ("bad",
density g); ``num_samples`` candidates are drawn from l with bandwidths widened by
``bandwidth_factor`` and the one maximising l(x)/g(x) is proposed.  A ``random_fraction`` of
suggestions (and every suggestion before any budget has enough points) is uniform random.
One deliberate difference from hpbandster's defaults: continuous bandwidths are floored at
``1 / min(100, n + 1)`` of the range (``adaptive_bandwidth=True``), because with the plain
``min_bandwidth`` floor the good-set model collapses onto a cluster and stalls even on a convex
bowl (measured in tests/test_bohb_core.py); ``adaptive_bandwidth=False`` restores the original.

The object minimises.  The same seed and the same sequence of ``observe`` calls give the same
suggestions, and ``get_state``/``set_state`` carry everything (JSON-able) to continue exactly.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ..space import Distribution, parse_distribution
from .encoding import Encoder
from .kde import ProductKDE

STATE_VERSION = 1
DEFAULTS = {"min_points_in_model": None, "top_n_percent": 15, "num_samples": 64, "random_fraction": 1 / 3,
            "bandwidth_factor": 3.0, "min_bandwidth": 1e-3, "adaptive_bandwidth": True}


class BOHBCore:
    def __init__(self, space: Mapping[str, Distribution], seed: int | None = None, *,
                 min_points_in_model: int | None = None, top_n_percent: float = 15, num_samples: int = 64,
                 random_fraction: float = 1 / 3, bandwidth_factor: float = 3.0, min_bandwidth: float = 1e-3,
                 adaptive_bandwidth: bool = True):
        self.space = {k: parse_distribution(v) for k, v in space.items()}
        self.encoder = Encoder(self.space)
        d = len(self.encoder.dims)
        self.min_points_in_model = int(min_points_in_model) if min_points_in_model else d + 1
        if not 0 < top_n_percent < 100:
            raise ValueError(f"top_n_percent must be in (0, 100), got {top_n_percent}")
        if num_samples < 1 or not 0 <= random_fraction <= 1 or bandwidth_factor <= 0 or min_bandwidth <= 0:
            raise ValueError("num_samples >= 1, 0 <= random_fraction <= 1, bandwidth_factor > 0 "
                             "and min_bandwidth > 0 are required")
        self.top_n_percent = float(top_n_percent)
        self.num_samples = int(num_samples)
        self.random_fraction = float(random_fraction)
        self.bandwidth_factor = float(bandwidth_factor)
        self.min_bandwidth = float(min_bandwidth)
        self.adaptive_bandwidth = bool(adaptive_bandwidth)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        # budget -> list of [row (list of floats), loss (float, or None when not finite)]
        self.observations: dict[int, list[list]] = {}
        self._keyed: dict[tuple[str, int], int] = {}  # (key, budget) -> index in observations[budget]
        self.n_suggested = 0
        self.last_info: dict[str, Any] = {}

    # -- observations ---------------------------------------------------------------------------
    def observe(self, config: Mapping[str, Any], budget: int, loss: float, key: str | None = None) -> None:
        """Record ``loss`` (to minimise) of ``config`` evaluated with ``budget``.

        Non-finite losses are kept as the worst possible.  With a ``key`` (e.g. a trial id), a
        second observation of the same key and budget replaces the first instead of adding one.
        """
        budget = int(budget)
        if budget < 0:
            raise ValueError(f"budget must be >= 0, got {budget}")
        row = [float(u) for u in self.encoder.encode(config)]
        try:
            value = float(loss)
        except (TypeError, ValueError):
            value = math.nan
        entry = [row, value if math.isfinite(value) else None]
        obs = self.observations.setdefault(budget, [])
        if key is not None and (str(key), budget) in self._keyed:
            obs[self._keyed[(str(key), budget)]] = entry
            return
        if key is not None:
            self._keyed[(str(key), budget)] = len(obs)
        obs.append(entry)

    def n_observations(self, budget: int) -> int:
        return len(self.observations.get(int(budget), []))

    def model_budget(self) -> int | None:
        """The largest budget with enough observations for a model, or None."""
        ready = [b for b, obs in self.observations.items() if len(obs) >= self.min_points_in_model + 2]
        return max(ready) if ready else None

    def best(self) -> tuple[dict[str, Any], int, float] | None:
        """(config, budget, loss) of the lowest finite loss at the largest budget that has one."""
        for budget in sorted(self.observations, reverse=True):
            finite = [(loss, row) for row, loss in self.observations[budget] if loss is not None]
            if finite:
                loss, row = min(finite, key=lambda t: t[0])
                return self.encoder.decode(np.array(row)), budget, loss
        return None

    # -- suggestions ----------------------------------------------------------------------------
    def _split(self, budget: int) -> tuple[np.ndarray, np.ndarray]:
        obs = self.observations[budget]
        rows = np.array([row for row, _ in obs], dtype=float)
        losses = np.array([math.inf if loss is None else loss for _, loss in obs])
        order = np.argsort(losses, kind="stable")
        n_good = max(self.min_points_in_model, int(self.top_n_percent * len(obs) // 100))
        return rows[order[:n_good]], rows[order[n_good:]]

    def suggest(self) -> dict[str, Any]:
        """A configuration in the distributions' own units."""
        self.n_suggested += 1
        budget = self.model_budget()
        if self.rng.random() < self.random_fraction or budget is None:
            self.last_info = {"model_budget": None, "random": True}
            return self.encoder.decode(self.encoder.random_row(self.rng))
        good, bad = self._split(budget)
        cats = self.encoder.categories
        l_kde = ProductKDE(good, cats, self.min_bandwidth, self.adaptive_bandwidth)
        g_kde = ProductKDE(bad, cats, self.min_bandwidth, self.adaptive_bandwidth)
        candidates = l_kde.sample(self.rng, self.num_samples, self.bandwidth_factor)
        candidates = np.array([self.encoder.snap(c) for c in candidates])
        score = l_kde.log_pdf(candidates) - g_kde.log_pdf(candidates)
        score = np.where(np.isfinite(score), score, -math.inf)
        best = int(np.argmax(score))
        self.last_info = {"model_budget": budget, "random": False, "score": float(score[best]),
                          "n_good": len(good), "n_bad": len(bad)}
        return self.encoder.decode(candidates[best])

    # -- state ----------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        return {"min_points_in_model": self.min_points_in_model, "top_n_percent": self.top_n_percent,
                "num_samples": self.num_samples, "random_fraction": self.random_fraction,
                "bandwidth_factor": self.bandwidth_factor, "min_bandwidth": self.min_bandwidth,
                "adaptive_bandwidth": self.adaptive_bandwidth}

    def get_state(self) -> dict[str, Any]:
        keyed = [[k, b, i] for (k, b), i in self._keyed.items()]
        return {"version": STATE_VERSION, "space": {k: d.as_dict() for k, d in self.space.items()},
                "options": self.options(), "seed": self.seed, "rng": self.rng.bit_generator.state,
                "observations": [[b, obs] for b, obs in self.observations.items()], "keyed": keyed,
                "n_suggested": self.n_suggested}

    def set_state(self, state: Mapping[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported BOHB state version {state.get('version')!r}")
        space = {k: d.as_dict() for k, d in self.space.items()}
        if state["space"] != space:
            raise ValueError("the saved BOHB state belongs to a different search space")
        opts = state["options"]
        self.min_points_in_model, self.num_samples = int(opts["min_points_in_model"]), int(opts["num_samples"])
        for k in ("top_n_percent", "random_fraction", "bandwidth_factor", "min_bandwidth"):
            setattr(self, k, float(opts[k]))
        self.adaptive_bandwidth = bool(opts["adaptive_bandwidth"])
        self.seed = state["seed"]
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        self.observations = {int(b): [[list(map(float, row)), loss] for row, loss in obs]
                             for b, obs in state["observations"]}
        self._keyed = {(str(k), int(b)): int(i) for k, b, i in state["keyed"]}
        self.n_suggested = int(state["n_suggested"])
        self.last_info = {}
