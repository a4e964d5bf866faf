"""Benchmark peers built from one successive-halving bracket over a fixed set of candidates.

* ``one-epoch``: one-epoch top-k screening: train every candidate for one epoch, then train the
  ``k`` best to ``R`` (Egele, Guyon, Vishwanath, Balaprakash, "Is One Epoch All You Need For
  Multi-Fidelity Hyperparameter Optimization?", ESANN 2023);
* ``sh``: one successive-halving bracket from 1 epoch (rungs 1, eta, eta², …, R; the best
  ``1/eta`` of each rung go on; Jamieson & Talwalkar, AISTATS 2016) over the same candidates.

Both are :class:`hpo.protocols.SchedulerCore`\\ s: the synchronous bracket of our Hyperband core
(:class:`hpo.schedulers.successive_halving.SHBracket`) with every added trial in a single bracket.
"""
from __future__ import annotations

from typing import Any, Mapping

from hpo.schedulers.hyperband import HyperbandCore
from hpo.schedulers.successive_halving import SHBracket


def sh_rungs(max_epochs: int, eta: int) -> tuple[int, ...]:
    """1, eta, eta², … below ``max_epochs``, then ``max_epochs``."""
    rungs, r = [], 1
    while r < max_epochs:
        rungs.append(r)
        r *= eta
    return tuple(rungs) + (max_epochs,)


class _TopK(SHBracket):
    """A bracket whose cut keeps a fixed number ``k`` at its first rung."""

    top_k = 1

    @property
    def keep(self) -> int:
        return max(min(self.top_k, len(self.order)), 1) if self.round == 0 else super().keep


class OneBracketCore(HyperbandCore):
    """Every added trial in one successive-halving bracket with the given rungs.

    ``top_k`` set: keep the ``k`` best at the first rung (one-epoch screening with rungs
    ``(1, R)``); otherwise keep ``1/eta`` per rung."""

    kind = "one-bracket"

    def __init__(self, max_epochs: int, rungs: tuple[int, ...], eta: int = 2, top_k: int | None = None):
        super().__init__(max_epochs, eta)
        if rungs[-1] != self.max_epochs or list(rungs) != sorted(set(rungs)) or rungs[0] < 1:
            raise ValueError(f"rungs must increase from >= 1 to max_epochs, got {rungs}")
        self.rungs, self.top_k = tuple(int(r) for r in rungs), top_k

    def _new_bracket(self) -> SHBracket:
        if self.top_k is None:
            return SHBracket(self, len(self.brackets), len(self.rungs) - 1, 10 ** 9, self.rungs, self.eta)
        b = _TopK(self, len(self.brackets), len(self.rungs) - 1, 10 ** 9, self.rungs, self.eta)
        b.top_k = int(self.top_k)
        return b

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "rungs": list(self.rungs), "top_k": self.top_k}

    def set_state(self, state: Mapping[str, Any]) -> None:
        if tuple(state.get("rungs", ())) != self.rungs or state.get("top_k") != self.top_k:
            raise ValueError("state was saved with other rungs or top_k")
        super().set_state(state)


def one_epoch_core(max_epochs: int, top_k: int = 2) -> OneBracketCore:
    return OneBracketCore(max_epochs, (1, max_epochs) if max_epochs > 1 else (1,), eta=2, top_k=top_k)


def sh_core(max_epochs: int, eta: int = 2) -> OneBracketCore:
    return OneBracketCore(max_epochs, sh_rungs(max_epochs, eta), eta=eta)
