"""Our ASHA (variant ``stop``) makes exactly Ray's ``AsyncHyperBandScheduler`` decisions.

Ray's scheduler is driven directly (``on_trial_add``/``on_trial_result`` with no controller; Ray
is not started) on the same asynchronous stream of results as our core: trials run on a few
slots, results arrive in a seeded random order, losses are quantised so ties at the cutoff occur.
"""
from __future__ import annotations

import random

import pytest
from ray.tune.schedulers import AsyncHyperBandScheduler

from hpo.schedulers.asha import ASHACore, rank_cutoff


class _Trial:  # what Ray's bracket bookkeeping reads from a trial
    def __init__(self, trial_id: str):
        self.trial_id = trial_id


def _stream(seed: int, R: int, eta: int, grace: int, n: int) -> tuple[list, list]:
    rng = random.Random(seed)
    ray = AsyncHyperBandScheduler(time_attr="hpo_epoch", metric="loss", mode="min", max_t=R,
                                  grace_period=grace, reduction_factor=eta)
    ours = ASHACore(R, grace_period=grace, eta=eta, variant="stop")
    trials = {f"t{i:03d}": _Trial(f"t{i:03d}") for i in range(n)}
    quality = {t: rng.random() for t in trials}
    epoch = {t: 0 for t in trials}
    pending, running = list(trials), []
    slots = 1 + seed % 4
    ray_log, our_log = [], []
    for t in trials:
        ray.on_trial_add(None, trials[t])
        ours.on_trial_add(t)
    while pending or running:
        while pending and len(running) < slots:
            running.append(pending.pop(0))
        t = rng.choice(running)
        epoch[t] += 1
        e = epoch[t]
        loss = round(quality[t] + 1.0 / e + 0.3 * rng.random(), 1)  # coarse: ties happen
        r = ray.on_trial_result(None, trials[t], {"hpo_epoch": e, "loss": loss})
        r = "STOP" if r == "STOP" or e >= R else "CONTINUE"
        d = str(ours.on_result(t, e, loss))
        ray_log.append((t, e, r))
        our_log.append((t, e, d))
        if r == "STOP" or d == "STOP":
            running.remove(t)
            ray.on_trial_complete(None, trials[t], {"hpo_epoch": e, "loss": loss})
            ours.on_trial_complete(t)
    return ray_log, our_log


@pytest.mark.parametrize("R,eta,grace", [(16, 2, 1), (27, 3, 1), (20, 2, 2), (12, 3, 1)])
def test_asha_stop_decisions_equal_rays_over_many_seeds(R, eta, grace):
    stops = 0
    for seed in range(50):
        ray_log, our_log = _stream(seed, R, eta, grace, n=30)
        assert our_log == ray_log, f"seed {seed}: first difference at " \
            f"{next(i for i, (a, b) in enumerate(zip(our_log, ray_log)) if a != b)}"
        stops += sum(d == "STOP" and e < R for _, e, d in our_log)
    assert stops > 100  # the streams exercise the cutoff, not only completions


def test_cutoff_excludes_the_arriving_trial_and_empty_rung_continues():
    assert rank_cutoff([], 2) == float("inf")
    assert rank_cutoff([float("nan")], 2) == float("inf")
    assert rank_cutoff([5.0], 2) == 5.0            # second arrival must be <= the first
    assert rank_cutoff([5.0, 6.0], 2) == 5.5
    assert rank_cutoff([1.0, 2.0, 3.0, 4.0], 4) == pytest.approx(1.75)
    core = ASHACore(8, grace_period=1, eta=2, variant="stop")
    for t in "abc":
        core.on_trial_add(t)
    assert core.on_result("a", 1, 4.0) == "CONTINUE"  # empty rung
    assert core.on_result("b", 1, 6.0) == "STOP"      # prior [4]
    # prior [4, 6]: median 5 -> 5.5 stops (counting itself, the median of [4, 6, 5.5] is 5.5
    # and it would have continued: the 10 % extra epochs of the old rule)
    assert core.on_result("c", 1, 5.5) == "STOP"
