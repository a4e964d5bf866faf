"""The experiment's time limit ends the run close to it (issue 15: a 15 s limit ended at 26 s).

``hpo.ray.watchdog.Deadline`` counts from the start of the run; Tune's ``time_budget_s`` started
after Tune's set-up.  The bound asserted here is generous (limit + 8 s, for a loaded 2-core machine);
the figure measured is in docs/reliability.md."""
from __future__ import annotations

import time

import pytest

import hpo
from hpo.ray.watchdog import Deadline

pytestmark = pytest.mark.ray
LIMIT_S = 6.0


def test_deadline_counts_from_its_creation_and_carries_the_budget_over_a_restore():
    now = [100.0]
    d = Deadline(5, clock=lambda: now[0])
    now[0] = 103.0
    assert not d.stop_all()
    now[0] = 105.0
    assert d.stop_all()  # 5 s after creation, though first asked at 103
    import pickle

    d = Deadline(5, clock=lambda: now[0])
    now[0] = 108.0
    d.stop_all()  # 3 s used
    restored = pickle.loads(pickle.dumps(Deadline(5)))  # a restore: no clock reading survives
    assert restored._last is None and restored.left == 5
    d.clock = time.monotonic  # (a test clock does not pickle)
    d2 = pickle.loads(pickle.dumps(d))
    d2.clock = lambda: now[0]
    now[0] = 500.0  # the driver was down: that time does not count
    assert not d2.stop_all() and d2.left == pytest.approx(2)


def test_a_short_time_limit_ends_the_run_within_a_bounded_overshoot(ray_cluster, tmp_path, mlpf_table):
    t0 = time.monotonic()
    res = hpo.tune("replay", space={"row": hpo.randint(0, 295)}, metric="loss", mode="min", num_samples=50,
                   max_epochs=100, max_concurrent=2, time_limit_s=LIMIT_S, seed=1, storage=str(tmp_path), name="tl",
                   trainable_args={"table": str(mlpf_table), "seconds_per_epoch": 0.2}, verbose=False)
    wall = time.monotonic() - t0  # Ray is already up (the session's cluster): this is the run itself
    assert LIMIT_S - 0.5 <= wall < LIMIT_S + 8, wall
    assert set(res.trials["outcome"]) <= {"time_limit", "completed"} and "time_limit" in set(res.trials["outcome"])
