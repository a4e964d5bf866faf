"""A full disk or a read-only filesystem mid-run (issue 15): the run ends with its cause in the last
line of output and a non-zero exit, not with Ray's internal error; ``--resume`` then continues.

The failure is injected (``HPO_TEST_DISK_ERROR_AT=POINT:N:ENOSPC`` raises that ``OSError`` in our
writer or callback: ``hpo.ray.snapshot.kill_point``), not made by filling a disk."""
from __future__ import annotations

import errno
import logging
import os
import re
import subprocess

import pytest

from conftest import MLPF_TABLE, PY, ROOT, run_cli
from hpo import disk_errors

SPACE = """trainable: {name: replay, args: {table: %s, seconds_per_epoch: 0.1}}
metric: loss
mode: min
hyperparameters: {row: {type: int, low: 0, high: 295}}
budget: {num_samples: 9, max_epochs: 9}
scheduler: {name: asha, eta: 3}
resources: {max_concurrent: 2}
seed: 5
"""


class WrappedByRay(Exception):  # Ray's task errors keep the user's exception as ``.cause``
    def __init__(self, cause):
        super().__init__("task failed")
        self.cause = cause


def test_the_cause_is_found_in_the_chain_the_wrapper_or_the_text():
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/r/hpo_state.json")
    try:
        try:
            raise full
        except OSError as exc:
            raise RuntimeError("The Ray Tune run failed") from exc
    except RuntimeError as outer:
        assert disk_errors.find(outer) is full
    assert disk_errors.find(WrappedByRay(full)) is full
    text = disk_errors.find(RuntimeError("sync failed: [Errno 30] Read-only file system: '/r/x'"))
    assert text is not None and text.errno == errno.EROFS
    assert disk_errors.find(AssertionError()) is None
    assert disk_errors.find(OSError(errno.ENOENT, "No such file")) is None


def test_a_cause_ray_only_logged_is_kept_for_its_later_internal_error():
    with disk_errors.Watch() as watch:
        logging.getLogger("ray.tune.execution.experiment_state").info("unrelated")
        try:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), "/r/experiment_state-x.json")
        except OSError:
            logging.getLogger("ray.tune.execution.experiment_state").exception("Experiment state sync failed")
        logging.getLogger("ray.tune").warning("No space left on device")  # the first one is kept
    assert watch.error is not None and watch.error.errno == errno.EROFS
    msg = str(disk_errors.stopped(watch.error, "/r"))
    assert msg.startswith("run stopped: Read-only file system while writing /r/experiment_state-x.json;")
    assert "nothing was corrupted" in msg and msg.endswith("--resume /r")


def _run(tmp_path, spec: str):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE % MLPF_TABLE)
    env = {**os.environ, "HPO_TEST_DISK_ERROR_AT": spec, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([PY, "-m", "hpo.run", "--space", str(space), "--storage", str(tmp_path), "--name", "run",
                           "--num-cpus", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=400)


_WORKER_LINE = re.compile(r"^(\x1b\[\d+m)?\([\w.-]+ pid=\d+(, ip=[\d.]+)?\)")


def _driver_lines(out: str) -> str:
    """The output without the lines Ray forwards from trial workers (``(NAME pid=N) ...``).  A worker
    that Ray's shutdown SIGTERMs inside a weakref callback prints Python's "Exception ignored ...
    SystemExit" with a traceback (Ray 2.60's worker signal handler, a race we do not own); the driver,
    our code, must print none."""
    return "\n".join(line for line in out.splitlines() if not _WORKER_LINE.match(line))


def test_worker_lines_are_told_from_the_driver_s():
    out = ("[hpo] run\n\x1b[36m(hpo_trial_replay pid=2768)\x1b[0m Traceback (most recent call last):\n"
           "(TrainWorker pid=7, ip=10.0.0.1) x\nTraceback (most recent call last):\nhpo: run stopped: y")
    assert _driver_lines(out) == "[hpo] run\nTraceback (most recent call last):\nhpo: run stopped: y"


@pytest.mark.ray
@pytest.mark.parametrize("spec, words", [
    ("hpo_state_write:2:ENOSPC", "No space left on device while writing "),
    ("result:5:EROFS", "Read-only file system while writing under "),
    ("finish:1:ENOSPC", "No space left on device while writing "),
])
def test_run_stopped_by_its_storage_names_the_cause_in_the_last_line(tmp_path, spec, words):
    proc = _run(tmp_path, spec)
    last = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert last.startswith("hpo: run stopped: ") and words in last, proc.stdout[-3000:]
    assert last.endswith(f"--resume {tmp_path / 'run'}"), proc.stdout[-3000:]
    assert "Traceback" not in _driver_lines(proc.stdout), proc.stdout[-3000:]
    if spec.startswith("hpo_state_write"):  # the disk has room again: the run continues
        resumed = run_cli("--resume", str(tmp_path / "run"), "--num-cpus", "2", timeout=400)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
