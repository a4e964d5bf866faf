"""Hyperband bracket arithmetic, exact and integer-only.

Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar, "Hyperband: A Novel Bandit-Based Approach to
Hyperparameter Optimization", JMLR 18(185), 2018.  With maximum budget ``R`` (epochs) and
reduction factor ``eta``:

* ``s_max`` is the largest ``s`` with ``eta**s <= R`` (no floating-point logarithm);
* bracket ``s`` starts ``n = ceil((s_max + 1) * eta**s / (s + 1))`` trials;
* round ``i`` of bracket ``s`` trains ``n_i = floor(n / eta**i)`` trials to
  ``r_i = round_half_even(R * eta**(i - s))`` epochs (``12.5 -> 12``, as in the reference code of
  the Swift-Hyperband papers), keeping the best ``max(floor(n_i / eta), 1)``.

Trials are resumable, so a round costs ``n_i * (r_i - r_{i-1})`` epochs.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


def s_max(max_epochs: int, eta: int) -> int:
    if max_epochs < 1 or eta < 2:
        raise ValueError(f"need max_epochs >= 1 and eta >= 2, got {max_epochs}, {eta}")
    s = 0
    while eta ** (s + 1) <= max_epochs:
        s += 1
    return s


def bracket_size(s: int, smax: int, eta: int) -> int:
    """``ceil((smax + 1) * eta**s / (s + 1))`` with integers only."""
    num, den = (smax + 1) * eta ** s, s + 1
    return -(-num // den)


def rung_budget(max_epochs: int, eta: int, s: int, i: int) -> int:
    """``round_half_even(R * eta**(i - s))``; ``Fraction.__round__`` rounds half to even."""
    return int(round(Fraction(max_epochs * eta ** i, eta ** s)))


@dataclass(frozen=True)
class BracketPlan:
    s: int
    n: int
    rungs: tuple[int, ...]  # r_0 .. r_s (r_s == R)
    sizes: tuple[int, ...]  # n_0 .. n_s

    def epochs(self) -> int:
        """Epochs plain (resumable) successive halving spends in this bracket."""
        total, prev = 0, 0
        for n_i, r_i in zip(self.sizes, self.rungs):
            total += n_i * (r_i - prev)
            prev = r_i
        return total


def hyperband_plan(max_epochs: int, eta: int) -> list[BracketPlan]:
    """Brackets in the order Hyperband runs them: ``s = s_max .. 0``."""
    smax = s_max(max_epochs, eta)
    plans = []
    for s in range(smax, -1, -1):
        n = bracket_size(s, smax, eta)
        rungs = tuple(rung_budget(max_epochs, eta, s, i) for i in range(s + 1))
        sizes = tuple(n // eta ** i for i in range(s + 1))
        plans.append(BracketPlan(s, n, rungs, sizes))
    return plans


def hyperband_trials(max_epochs: int, eta: int) -> int:
    return sum(p.n for p in hyperband_plan(max_epochs, eta))


def hyperband_epochs(max_epochs: int, eta: int) -> int:
    return sum(p.epochs() for p in hyperband_plan(max_epochs, eta))
