"""A training function defined in the user's own script resumes (issue 15 item 3).

The script runs ``hpo.tune(train, ...)``; its driver is killed mid-run (``HPO_TEST_KILL_AT``); the
CLI's ``--resume`` says exactly what to call; the same script continues the run with
``hpo.resume(DIR, trainable=train)``."""
from __future__ import annotations

import os
import signal
import subprocess
import textwrap

import pandas as pd
import pytest

from conftest import PY, ROOT, run_cli

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SCRIPT = """
import sys
import hpo

def train(config):
    state = hpo.get_checkpoint() or {"epoch": 0}
    for epoch in range(state["epoch"], config["max_epochs"]):
        hpo.report(loss=(config["x"] - 0.3) ** 2 + 1.0 / (epoch + 1), checkpoint={"epoch": epoch + 1})

if __name__ == "__main__":
    if sys.argv[1] == "resume":
        res = hpo.resume(sys.argv[2], trainable=train, num_cpus=2)
    else:
        res = hpo.tune(train, space={"x": hpo.uniform(0, 1)}, metric="loss", mode="min", num_samples=6,
                       max_epochs=4, scheduler="asha", storage=sys.argv[2], name="script", num_cpus=2, seed=0)
    print("BEST", res.best_metric)
"""


def test_script_defined_trainable_resumes_from_its_script(tmp_path):
    script = tmp_path / "train_script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HPO_TEST_KILL_AT": "result:8"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([PY, str(script), "run", str(tmp_path)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out, _ = proc.communicate(timeout=300)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    assert proc.returncode == 137, out[-3000:]
    d = tmp_path / "script"
    assert not (d / "trials.parquet").exists()

    cli = run_cli("--resume", str(d), timeout=120)
    assert cli.returncode == 2 and len(cli.stderr.strip().splitlines()) == 1, cli.stderr
    assert f"hpo.resume({str(d)!r}, trainable=train)" in cli.stderr and "__main__:train" in cli.stderr

    env.pop("HPO_TEST_KILL_AT")
    done = subprocess.run([PY, str(script), "resume", str(d)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "BEST" in done.stdout, (done.stdout + done.stderr)[-3000:]
    assert "restored" in done.stdout
    trials = pd.read_parquet(d / "trials.parquet")
    assert len(trials) == 6 and not (trials["outcome"].isin(["unfinished", "failed"])).any(), trials
