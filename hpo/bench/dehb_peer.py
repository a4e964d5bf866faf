"""DEHB (Awad, Mallik, Hutter, IJCAI 2021) as a benchmark peer, driven through ask/tell in its own venv.

``dehb`` 0.1.2 pins numpy < 2 and cannot live in our environment, so :func:`ensure_venv` builds a
separate venv (``pip install`` of the pins below, once; ``HPO_DEHB_VENV`` chooses where, default
``~/.cache/hpo-bench/dehb-0.1.2``) and :class:`DEHBClient` runs :mod:`hpo.bench.dehb_worker` there.

:func:`dehb_run` is sequential (one worker, like Optuna's loop).  DEHB asks for a configuration and a
fidelity; the configuration maps to a table row the first time its DEHB ``config_id`` is seen
(nearest row not yet used, or nearest row when drawing with replacement) and keeps that row when
DEHB promotes it.  Trials resume from checkpoints, as everywhere in this benchmark: a row already
trained to ``e`` epochs costs ``fidelity - e`` more, and DEHB is told that cost.  The run stops when
``epoch_cap`` epochs are spent; the answer is the lowest loss at ``max_epochs`` seen (the rule of
every method here).  DEHB's initial population is its own random sample (seeded), not the paired
row stream.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hpo.space import Choice, Uniform

from .peers import table_space
from .simtime import SimResult
from .table import CurveTable

PINS = ("dehb==0.1.2", "numpy==1.26.4", "ConfigSpace==1.2.2", "pandas==3.0.6")
WORKER = Path(__file__).with_name("dehb_worker.py")


def venv_dir() -> Path:
    return Path(os.environ.get("HPO_DEHB_VENV", Path.home() / ".cache" / "hpo-bench" / "dehb-0.1.2"))


def ensure_venv(log=sys.stderr) -> Path:
    """The DEHB venv's python, building the venv first if it is missing (needs the package index)."""
    d = venv_dir()
    py = d / "bin" / "python"
    stamp = d / "hpo-pins.txt"
    if py.exists() and stamp.exists() and stamp.read_text().split() == list(PINS):
        return py
    print(f"building the DEHB venv in {d} ({' '.join(PINS)})", file=log, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(d)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *PINS], check=True)
    stamp.write_text("\n".join(PINS) + "\n")
    return py


class DEHBClient:
    """One long-lived worker process; ``init`` starts a fresh optimiser in it."""

    def __init__(self, python: Path | None = None):
        py = python or ensure_venv()
        self.proc = subprocess.Popen([str(py), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def call(self, **req: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"DEHB worker exited (code {self.proc.poll()})")
        ans = json.loads(line)
        if "error" in ans:
            raise RuntimeError(f"DEHB worker: {ans['error']}")
        return ans

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def worker_space(table: CurveTable) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, d in table_space(table).items():
        if isinstance(d, Choice):
            out[name] = {"type": "choice", "values": [float(v) for v in d.values]}
        elif isinstance(d, Uniform):
            out[name] = {"type": "float", "low": d.low, "high": d.high, "log": bool(d.log)}
        else:
            raise ValueError(f"no DEHB hyperparameter for {name!r} ({d.type})")
    return out


def dehb_run(client: DEHBClient, table: CurveTable, *, seed: int, max_epochs: int, eta: int, epoch_cap: int,
             replace: bool = False) -> SimResult:
    t0 = time.perf_counter()
    client.call(op="init", space=worker_space(table), seed=seed, min_fidelity=1, max_fidelity=max_epochs, eta=eta)
    best_final = float(table.curves[:, -1].min())
    row_of: dict[int, int] = {}  # DEHB config_id -> row
    trained: dict[int, int] = {}  # row -> epochs trained
    rows: list[int] = []
    anytime: list[tuple[int, float]] = []
    incumbent: tuple[float, int] | None = None
    total = 0
    while total < epoch_cap:
        job = client.call(op="ask")
        cid = job["config_id"]
        if cid not in row_of:
            used = set(row_of.values())
            if not replace and len(used) >= table.n_rows:
                break  # the pool is empty
            row_of[cid] = table.nearest_row(job["config"], exclude=() if replace else used)
            rows.append(row_of[cid])
        row = row_of[cid]
        fid = min(max(int(round(job["fidelity"])), 1), max_epochs)
        have = trained.get(row, 0)
        new = min(max(fid - have, 0), epoch_cap - total)
        total += new
        trained[row] = max(have, have + new)
        if have + new < fid:  # the cap cut this training short
            break
        loss = float(table.curves[row, fid - 1])
        if fid == max_epochs and (incumbent is None or loss < incumbent[0]):
            incumbent = (loss, row)
            anytime.append((total, table.final_loss(row) - best_final))
        client.call(op="tell", job=job["job"], fitness=loss, cost=float(new))
    row = incumbent[1] if incumbent else None
    final = table.final_loss(row) if row is not None else math.inf
    return SimResult(epochs=total, trials_started=len(rows), chosen_row=row,
                     loss_at_R=incumbent[0] if incumbent else math.inf, final_loss=final,
                     regret=final - best_final, sim_time=float(total), wall_s=time.perf_counter() - t0,
                     rows=rows, anytime=anytime)
