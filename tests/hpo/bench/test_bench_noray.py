"""The cores, the predictors and the simulator run with Ray made unimportable (issue 12)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent("""
    import sys

    class NoRay:
        def find_spec(self, name, path=None, target=None):
            if name == "ray" or name.startswith("ray."):
                raise ImportError("Ray is blocked in this test")

    sys.meta_path.insert(0, NoRay())
    try:
        import ray  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker did not block Ray")

    import predictors
    from hpo.bench.methods import sim_parts, trials_for
    from hpo.bench.replay import replay
    from hpo.bench.rows import PairedRows
    from hpo.bench.simtime import simulate
    from hpo.bench.synthetic import synthetic_table
    from hpo.schedulers import build_core

    R = 8
    table = synthetic_table(rows=30, epochs=R, seed=2)
    for name, opts in (("asha", {}), ("hyperband", {"eta": 2}), ("swift", {"d": 3})):
        factory = (lambda: predictors.build_predictor("svr", {})) if name == "swift" else None
        core = build_core(name, options=opts, max_epochs=R, predictor_factory=factory)
        r = simulate(core, table, PairedRows(table, 0, 20), max_epochs=R, n_trials=20, workers=2)
        assert r.epochs > 0 and r.chosen_row is not None, name
        rr = replay(build_core(name, options=opts, max_epochs=R, predictor_factory=factory), table,
                    max_epochs=R, n_trials=20, seed=0)
        assert rr.epochs > 0, name
    for method in ("asha", "hyperband", "swift-svr", "bohb-hb", "random-full"):
        n = trials_for(method, R, 2, 20, 5)
        core, src = sim_parts(method, table, seed=1, max_epochs=R, eta=2, n_trials=n)
        assert simulate(core, table, src, max_epochs=R, n_trials=n).epochs > 0, method
    fit = predictors.build_predictor("svr", {})
    fit.fit(table.curves[:, :3], table.curves[:, -1])
    assert fit.predict(table.curves[:2, :3]).shape == (2,)
    loaded = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
    assert not loaded, loaded
    print("ok")
""")


def test_cores_predictors_and_simulator_run_without_ray():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
