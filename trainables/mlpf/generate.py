"""Offline MLPF sample generation: Pythia 8 e+e- -> parametric CLIC-like detector -> truth targets.

Processes at sqrt(s) = 380 GeV as in the CLIC MLPF samples (arXiv:2309.06782): ttbar, Z/gamma* -> qq
(d u s c b) and WW -> 4 quarks, with ISR/FSR.  Each shard is an independent job seeded from
(seed, split, shard index), so the output is identical for any number of worker processes.

    python -m trainables.mlpf.generate --out DIR --n-train 2000 --n-val 500 --workers 2
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
import multiprocessing as mp

import numpy as np

from . import detector, truth
from .schema import list_shards, write_shard

GENERATOR_VERSION = 1
PROCESSES = ("ttbar", "qq", "ww")
NEUTRINOS = {12, 14, 16}
_SPLIT_CODE = {"train": 1, "val": 2}


def make_pythia(process: str, seed: int):
    try:
        import pythia8mc
    except ImportError as exc:  # optional dependency: pip install 'hpo[physics]'
        raise RuntimeError("MLPF data generation needs pythia8mc (pip install pythia8mc==8.317.2); "
                           "or point trainable.args.data_dir at existing shards") from exc
    py = pythia8mc.Pythia("", False)
    cmds = ["Print:quiet = on", "Beams:idA = 11", "Beams:idB = -11", "Beams:eCM = 380.",
            "PartonLevel:ISR = on", "PartonLevel:FSR = on", "Random:setSeed = on", f"Random:seed = {seed}"]
    if process == "ttbar":
        cmds += ["Top:ffbar2ttbar(s:gmZ) = on"]
    elif process == "qq":
        cmds += ["WeakSingleBoson:ffbar2ffbar(s:gmZ) = on", "23:onMode = off", "23:onIfAny = 1 2 3 4 5",
                 "22:onMode = off", "22:onIfAny = 1 2 3 4 5"]
    elif process == "ww":
        cmds += ["WeakDoubleBoson:ffbar2WW = on", "24:onMode = off", "24:onIfAny = 1 2 3 4 5 6"]
    else:
        raise ValueError(f"unknown process {process!r}; choose from {PROCESSES}")
    for c in cmds:
        py.readString(c)
    if not py.init():
        raise RuntimeError(f"Pythia initialisation failed for {process}")
    return py


def stable_visible(event):
    """(pid, charge, p4 [n,4]) of final-state particles except neutrinos."""
    rows = [(p.id(), p.charge(), p.px(), p.py(), p.pz(), p.e()) for p in event
            if p.isFinal() and p.idAbs() not in NEUTRINOS]
    a = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return a[:, 0].astype(int), a[:, 1], a[:, 2:6]


def shard_seed(seed: int, split: str, index: int) -> int:
    return int(np.random.SeedSequence([seed, _SPLIT_CODE[split], index]).generate_state(1)[0] % 900_000_000) + 1


def generate_events(n_events: int, processes=PROCESSES, seed: int = 0, split: str = "train", index: int = 0):
    """Generate ``n_events`` events (list of dicts with X, ygen, genmet, process, event_id)."""
    s = shard_seed(seed, split, index)
    rng = np.random.default_rng(s)
    gens = {p: make_pythia(p, (s + 7919 * k) % 900_000_000 + 1) for k, p in enumerate(processes)}
    events = []
    while len(events) < n_events:
        proc = processes[int(rng.integers(len(processes)))]
        py = gens[proc]
        if not py.next():
            continue
        pid, q, p4 = stable_visible(py.event)
        if len(pid) == 0:
            continue
        det = detector.simulate(pid, q, p4, rng)
        if len(det.X) == 0:
            continue
        Y = truth.build_targets(pid, q, p4, det)
        met = float(np.hypot(p4[:, 0].sum(), p4[:, 1].sum()))
        events.append({"X": det.X.astype(np.float32), "ygen": Y.astype(np.float32), "genmet": met,
                       "process": proc, "event_id": index * 1_000_000 + len(events)})
    return events


def _shard_job(out_dir: str, split: str, index: int, n_events: int, processes, seed: int):
    t0 = time.process_time()
    events = generate_events(n_events, tuple(processes), seed, split, index)
    path = os.path.join(out_dir, split, f"shard_{index:04d}.parquet")
    write_shard(path, events)
    return n_events, sum(len(e["X"]) for e in events), time.process_time() - t0


def generate_dataset(out_dir: str, n_train: int, n_val: int, processes=PROCESSES, seed: int = 0,
                     events_per_shard: int = 250, workers: int = 1, progress: bool = True) -> dict:
    """Write ``out_dir/{train,val}/shard_*.parquet`` and ``out_dir/dataset.json``; returns the summary."""
    for split in ("train", "val"):
        os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    jobs = []
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(math.ceil(n / events_per_shard)):
            jobs.append((out_dir, split, i, min(events_per_shard, n - i * events_per_shard), list(processes), seed))
    from tqdm import tqdm

    t0 = time.perf_counter()
    n_ev = n_el = 0
    cpu = 0.0
    bar = tqdm(total=n_train + n_val, unit="ev", desc="MLPF events", disable=not progress)
    if workers <= 1:
        results = (_shard_job(*j) for j in jobs)
    else:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
        results = (f.result() for f in as_completed([pool.submit(_shard_job, *j) for j in jobs]))
    try:
        for ne, nl, c in results:
            n_ev, n_el, cpu = n_ev + ne, n_el + nl, cpu + c
            bar.update(ne)
    finally:
        bar.close()
        if workers > 1:
            pool.shutdown()
    wall = time.perf_counter() - t0
    summary = {"generator_version": GENERATOR_VERSION, "n_train": n_train, "n_val": n_val,
               "processes": list(processes), "seed": seed, "events_per_shard": events_per_shard,
               "mean_elements": n_el / max(n_ev, 1), "wall_s": round(wall, 2), "workers": workers,
               "events_per_cpu_s": round(n_ev / max(cpu, 1e-9), 1), "events_per_wall_s": round(n_ev / wall, 1)}
    with open(os.path.join(out_dir, "dataset.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    return summary


def ensure_dataset(cache_dir: str, params: dict, workers: int = 1, progress: bool = True) -> str:
    """Generate into ``cache_dir`` unless a complete sample is already there; safe across processes."""
    import fcntl

    os.makedirs(os.path.dirname(os.path.abspath(cache_dir)), exist_ok=True)
    with open(cache_dir.rstrip("/") + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(cache_dir, "dataset.json")) and list_shards(cache_dir, "train"):
            return cache_dir
        partial = cache_dir.rstrip("/") + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        generate_dataset(partial, workers=workers, progress=progress, **params)
        shutil.rmtree(cache_dir, ignore_errors=True)
        os.replace(partial, cache_dir)
    return cache_dir


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-val", type=int, default=500)
    ap.add_argument("--processes", default=",".join(PROCESSES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--events-per-shard", type=int, default=250)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args(argv)
    s = generate_dataset(a.out, a.n_train, a.n_val, tuple(a.processes.split(",")), a.seed,
                         a.events_per_shard, a.workers)
    print(json.dumps(s, indent=1))


if __name__ == "__main__":
    main()
