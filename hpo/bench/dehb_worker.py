"""Ask/tell server for DEHB (Awad, Mallik, Hutter, IJCAI 2021), run inside DEHB's own venv.

The ``dehb`` package (0.1.2) pins numpy < 2, which our environment cannot have, so
:mod:`hpo.bench.dehb_peer` starts this file with the Python of a separate venv and talks to it in
JSON lines on stdin/stdout.  It imports only the standard library, ``dehb`` and ``ConfigSpace``
(never ``hpo``).  Requests and answers, one JSON object per line:

* ``{"op": "init", "space": {name: {"type": "choice", "values": [...]} |
  {"type": "float", "low": a, "high": b, "log": bool}}, "seed": s, "min_fidelity": 1,
  "max_fidelity": R, "eta": 2}`` -> ``{"ok": true}`` (a new optimiser; the old one is dropped);
* ``{"op": "ask"}`` -> ``{"job": k, "config": {...}, "config_id": i, "fidelity": f}``;
* ``{"op": "tell", "job": k, "fitness": loss, "cost": epochs}`` -> ``{"ok": true}``;
* ``{"op": "quit"}``.

Errors come back as ``{"error": "..."}``.  DEHB's own log goes to stderr.
"""
from __future__ import annotations

import json
import sys
import tempfile


def build_space(space: dict, seed: int):
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace(seed=seed)
    for name, d in space.items():
        if d["type"] == "choice":
            cs.add(CS.CategoricalHyperparameter(name, [float(v) for v in d["values"]]))
        elif d["type"] == "float":
            cs.add(CS.UniformFloatHyperparameter(name, float(d["low"]), float(d["high"]), log=bool(d["log"])))
        else:
            raise ValueError(f"space: {name}: unknown type {d['type']!r}")
    return cs


def main() -> int:
    out = sys.stdout
    sys.stdout = sys.stderr  # anything the library prints stays off the protocol channel
    from dehb import DEHB
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    opt, jobs, workdir = None, {}, tempfile.mkdtemp(prefix="dehb_worker_")
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "quit":
                break
            if req["op"] == "init":
                cs = build_space(req["space"], int(req["seed"]))
                opt = DEHB(cs=cs, dimensions=len(cs), min_fidelity=req["min_fidelity"],
                           max_fidelity=req["max_fidelity"], eta=req["eta"], seed=int(req["seed"]),
                           n_workers=1, output_path=workdir, save_freq="end", log_level="WARNING")
                jobs = {}
                ans = {"ok": True}
            elif req["op"] == "ask":
                job = opt.ask()
                k = len(jobs)
                jobs[k] = job
                ans = {"job": k, "config": {n: float(v) for n, v in dict(job["config"]).items()},
                       "config_id": int(job["config_id"]), "fidelity": float(job["fidelity"])}
            elif req["op"] == "tell":
                opt.tell(jobs.pop(int(req["job"])), {"fitness": float(req["fitness"]), "cost": float(req["cost"])})
                ans = {"ok": True}
            else:
                ans = {"error": f"unknown op {req['op']!r}"}
        except Exception as exc:  # the driver reports it and stops the run
            ans = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(ans) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
