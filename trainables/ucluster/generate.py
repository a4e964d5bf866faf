"""Generate boosted W / Z / top fat jets with Pythia 8 + FastJet into the HLS4ML layout.

Process setup follows the UCluster data description (Mikuni & Canelli, PRD 103 (2021) 092007) and the
HLS4ML jet data (Duarte et al., JINST 13 (2018) P07027): pp at 13 TeV, hadronic W (WW), Z (ZZ) and
top (ttbar) production above a pT-hat cut, all visible final-state particles clustered with anti-kT
R = 0.8, the leading jet kept when 800 < pT < 1400 GeV, |eta| < 2 and within dR < 0.6 of a (last-copy)
W/Z/top.  Generator level, no detector simulation.

Work is split in fixed chunks of ``jets_per_chunk`` jets with one Pythia seed each, so the output is
the same for a given seed whatever the number of worker processes.
"""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from trainables.fastjet_quiet import cluster_sequence

from .features import constituent_columns, wrap_phi
from .hls4ml import JET_FEATURES, write_jets

GENERATOR_VERSION = 1
PROCESSES = {  # class name -> (HLS4ML label column, PDG id, Pythia switches)
    "W": ("j_w", 24, ["WeakDoubleBoson:ffbar2WW = on"]),
    "Z": ("j_z", 23, ["WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2"]),
    "top": ("j_t", 6, ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"]),
}
_INVISIBLE = {12, 14, 16}
_JCOL = {n: i for i, n in enumerate(JET_FEATURES)}


@dataclass(frozen=True)
class GenerationParams:
    jets_per_class: int = 600
    seed: int = 0
    pthat_min: float = 800.0
    pt_min: float = 800.0
    pt_max: float = 1400.0
    max_constituents: int = 100
    mpi: bool = True
    jets_per_chunk: int = 200

    def key(self) -> str:
        blob = json.dumps({**asdict(self), "version": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


def cache_root() -> str:
    return os.path.join(os.environ.get("HPO_CACHE") or os.path.expanduser("~/.cache/hpo"), "ucluster")


def _pythia(proc: str, seed: int, p: GenerationParams):
    import pythia8mc

    py = pythia8mc.Pythia("", False)
    settings = ["Beams:eCM = 13000.", f"PhaseSpace:pTHatMin = {p.pthat_min}", "Print:quiet = on",
                "Random:setSeed = on", f"Random:seed = {seed}",
                "24:onMode = off", "24:onIfAny = 1 2 3 4 5", "23:onMode = off", "23:onIfAny = 1 2 3 4 5"]
    if not p.mpi:
        settings.append("PartonLevel:MPI = off")
    for s in settings + PROCESSES[proc][2]:
        if not py.readString(s):
            raise RuntimeError(f"Pythia rejected setting {s!r}")
    if not py.init():
        raise RuntimeError(f"Pythia initialisation failed for {proc}")
    return py


def _softdrop_mass(jet, fj, zcut: float = 0.1, r0: float = 0.8) -> float:
    """mMDT (soft drop, beta = 0) groomed mass, as HLS4ML's j_mass_mmdt."""
    cs = cluster_sequence(list(jet.constituents()), fj.JetDefinition(fj.cambridge_algorithm, 1.5))
    j = fj.sorted_by_pt(cs.inclusive_jets())[0]
    p1, p2 = fj.PseudoJet(), fj.PseudoJet()
    while j.has_parents(p1, p2):
        if min(p1.pt(), p2.pt()) / (p1.pt() + p2.pt()) > zcut:
            break
        j = p1 if p1.pt() > p2.pt() else p2
        p1, p2 = fj.PseudoJet(), fj.PseudoJet()
    return j.m()


def _truth_directions(event, abs_id: int) -> list[tuple[float, float]]:
    out = []
    for i in range(event.size()):
        part = event[i]
        if part.idAbs() != abs_id:
            continue
        d1, d2 = part.daughter1(), part.daughter2()
        if not any(d > 0 and event[d].idAbs() == abs_id for d in range(d1, max(d1, d2) + 1)):
            out.append((part.eta(), part.phi()))
    return out


def generate_chunk(task: tuple[str, int, int, GenerationParams]) -> tuple[np.ndarray, np.ndarray, int, float]:
    """One (process, seed) chunk: constituents [n,C,16], jet rows [n,59], events tried, CPU seconds."""
    cpu0 = time.process_time()
    try:
        consts, rows, n_events = _generate_chunk(task)
    except Exception as exc:  # FastJet/Pythia errors do not pickle; re-raise as a plain error
        raise RuntimeError(f"jet generation failed for chunk {task[:3]}: {type(exc).__name__}: {exc}") from None
    return consts, rows, n_events, time.process_time() - cpu0


def _generate_chunk(task: tuple[str, int, int, GenerationParams]) -> tuple[np.ndarray, np.ndarray, int]:
    import fastjet as fj

    proc, seed, n_jets, p = task
    label_col, abs_id, _ = PROCESSES[proc]
    py = _pythia(proc, seed, p)
    jet_def = fj.JetDefinition(fj.antikt_algorithm, 0.8)
    consts, rows, n_events = [], [], 0
    while len(consts) < n_jets:
        if not py.next():
            continue
        n_events += 1
        ev = py.event
        particles = []
        for i in range(ev.size()):
            part = ev[i]
            if part.isFinal() and part.idAbs() not in _INVISIBLE:
                particles.append(fj.PseudoJet(part.px(), part.py(), part.pz(), part.e()))
        cluster_seq = cluster_sequence(particles, jet_def)  # must outlive jet.constituents()
        jets = fj.sorted_by_pt(cluster_seq.inclusive_jets(100.0))
        if not jets:
            continue
        jet = jets[0]
        if not (p.pt_min < jet.pt() < p.pt_max) or abs(jet.eta()) > 2.0:
            continue
        if not any(math.hypot(jet.eta() - eta, float(wrap_phi(jet.phi() - phi))) < 0.6
                   for eta, phi in _truth_directions(ev, abs_id)):
            continue
        p4 = np.array([[c.px(), c.py(), c.pz(), c.e()] for c in jet.constituents()])
        consts.append(constituent_columns(p4, np.array([jet.px(), jet.py(), jet.pz(), jet.e()]),
                                          p.max_constituents))
        row = np.full(len(JET_FEATURES), np.nan, dtype=np.float32)
        row[[_JCOL[c] for c in ("j_g", "j_q", "j_w", "j_z", "j_t")]] = 0.0
        row[_JCOL[label_col]] = 1.0
        row[_JCOL["j_pt"]], row[_JCOL["j_eta"]], row[_JCOL["j_mass"]] = jet.pt(), jet.eta(), jet.m()
        row[_JCOL["j_mass_mmdt"]] = _softdrop_mass(jet, fj)
        row[_JCOL["j_multiplicity"]] = len(p4)
        rows.append(row)
    return np.stack(consts), np.stack(rows), n_events


def _tasks(p: GenerationParams) -> list[tuple[str, int, int, GenerationParams]]:
    tasks = []
    for ci, proc in enumerate(PROCESSES):
        n_chunks = math.ceil(p.jets_per_class / p.jets_per_chunk)
        for k in range(n_chunks):
            n = min(p.jets_per_chunk, p.jets_per_class - k * p.jets_per_chunk)
            seed = (p.seed * 1_000_003 + ci * 10_007 + k) % 899_999_999 + 1
            tasks.append((proc, seed, n, p))
    return tasks


def generate(p: GenerationParams, path: str, workers: int = 1, progress: bool = True) -> dict:
    """Generate ``3 * jets_per_class`` jets into ``path`` (HLS4ML layout); returns timing stats."""
    from tqdm import tqdm

    tasks = _tasks(p)
    t0 = time.perf_counter()
    bar = tqdm(total=3 * p.jets_per_class, desc="ucluster jets", unit="jet", disable=not progress)
    results = []
    if workers <= 1:
        for t in tasks:
            results.append(generate_chunk(t))
            bar.update(t[2])
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for t, r in zip(tasks, pool.imap(generate_chunk, tasks)):  # imap keeps chunk order
                results.append(r)
                bar.update(t[2])
    bar.close()
    wall = time.perf_counter() - t0
    consts = np.concatenate([r[0] for r in results])
    rows = np.concatenate([r[1] for r in results])
    rows[:, _JCOL["j_index"]] = np.arange(len(rows))
    write_jets(path, consts, rows)
    n_events = int(sum(r[2] for r in results))
    cpu = float(sum(r[3] for r in results))
    return {"jets": len(rows), "events": n_events, "wall_s": wall, "workers": workers, "cpu_s": cpu,
            "jets_per_s": len(rows) / wall, "jets_per_cpu_s": len(rows) / cpu}


def cached_dataset(p: GenerationParams, workers: int = 1, progress: bool = True) -> str:
    """Path of the generated file for ``p``, generating it once into the cache (file-locked)."""
    import fcntl

    folder = os.path.join(cache_root(), p.key())
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "jets.h5")
    with open(os.path.join(folder, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            stats = generate(p, path, workers=workers, progress=progress)
            with open(os.path.join(folder, "generation.json"), "w") as fh:
                json.dump({"params": asdict(p), "version": GENERATOR_VERSION, **stats}, fh, indent=1)
    return path
