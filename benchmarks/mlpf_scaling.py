"""Inference cost of the MLPF models versus the number of elements per event.

Both layer types are designed to be linear in N (GNN-LSH: fixed-size bins, Pata et al. EPJC 81 (2021)
381; FAVOR+ kernel attention, Choromanski et al. arXiv:2009.14794).  For each model and N this script
measures the forward time (minimum over repeats: robust on a shared machine) (batch of one event, no gradients) and the peak memory, each N in a
fresh subprocess (CPU: peak RSS above the post-warm-up RSS; CUDA: torch.cuda.max_memory_allocated),
then fits time ~ N^k and memory ~ N^k by least squares in log-log (all N, and N >= 1000 where fixed
per-call overheads no longer dominate).  Writes benchmarks/results/mlpf_scaling.md.

    python benchmarks/mlpf_scaling.py                      # 100 .. 10000 elements, both models
    python benchmarks/mlpf_scaling.py --sizes 100,1000 --out /tmp/x.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

MODELS = ("gnn_lsh", "transformer")
DEFAULT_SIZES = (100, 300, 1000, 2000, 5000, 10000)
MODEL_CONFIG = {"width": 64, "num_convs": 2, "bin_size": 32, "distance_dim": 32, "num_node_messages": 2,
                "max_num_bins": 200, "num_heads": 4, "num_random_features": 32}


def synthetic_event(n: int, seed: int = 0) -> np.ndarray:
    """[n, 17] elements with track/cluster types and plausible magnitudes (cost does not depend on values)."""
    rng = np.random.default_rng(seed)
    X = rng.lognormal(0.0, 1.0, size=(n, 17)).astype(np.float32)
    X[:, 0] = rng.integers(1, 3, n)
    X[:, 2] = rng.uniform(-2.5, 2.5, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    X[:, 3], X[:, 4] = np.sin(phi), np.cos(phi)
    return X


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024
    return float("nan")


def measure(model_type: str, n: int, repeats: int = 5, device: str = "cpu", threads: int = 1) -> dict:
    """Median forward time [s] and peak memory [MB] of one event with ``n`` elements (this process)."""
    import torch

    from trainables.mlpf.model import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model({"model": model_type, **MODEL_CONFIG}).to(device).eval()
    warm = torch.from_numpy(synthetic_event(50)).unsqueeze(0).to(device)
    X = torch.from_numpy(synthetic_event(n)).unsqueeze(0).to(device)
    mask = X[..., 0] != 0
    with torch.no_grad():
        model(warm, warm[..., 0] != 0)
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            base = _rss_mb()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(X, mask)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    if cuda:
        peak = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    return {"model": model_type, "n": n, "time_s": float(np.min(times)), "peak_mb": max(float(peak), 0.0)}


def _run_child(model_type: str, n: int, repeats: int, device: str, threads: int, env: dict) -> dict:
    code = ("import json,sys; sys.path.insert(0, %r); from benchmarks.mlpf_scaling import measure; "
            "print(json.dumps(measure(%r, %d, %d, %r, %d)))" % (_ROOT, model_type, n, repeats, device, threads))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=_ROOT,
                         env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_subprocess(model_type: str, n: int, repeats: int, device: str, threads: int) -> dict:
    """Time from a process with the default allocator; memory from one where every block >= 64 kB comes
    straight from mmap, so freed memory leaves RSS and the high-water mark tracks live tensors."""
    timed = _run_child(model_type, n, repeats, device, threads, dict(os.environ))
    if device.startswith("cuda"):
        return timed
    mem = _run_child(model_type, n, 1, device, threads, {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    return {**timed, "peak_mb": mem["peak_mb"]}


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fit_exponent(ns, ys) -> float:
    ns, ys = np.asarray(ns, float), np.asarray(ys, float)
    ok = ys > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns[ok]), np.log(ys[ok]), 1)[0])


def write_table(rows: list[dict], path: str, command: str, machine: str) -> str:
    lines = ["# MLPF inference scaling with the number of elements per event", "",
             f"Command: `{command}`  ", f"Machine: {machine}  ",
             f"Model settings: {json.dumps(MODEL_CONFIG)}; batch of 1 event, no gradients; "
             "time = minimum over repeated forward passes; memory = peak above the warmed-up baseline "
             "(CPU: process RSS high-water mark, each point in a fresh process).", "",
             "| model | elements | time [ms] | time / element [µs] | peak memory [MB] |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['n']} | {r['time_s'] * 1e3:.2f} | {r['time_s'] / r['n'] * 1e6:.2f} "
                     f"| {r['peak_mb']:.1f} |")
    lines += ["", "Fitted exponents k of cost ~ N^k (least squares in log-log; target k <= 1.15):", "",
              "| model | time, all N | time, N >= 1000 | memory, all N | memory, N >= 1000 |", "|---|---|---|---|---|"]
    for m in sorted({r["model"] for r in rows}):
        rs = [r for r in rows if r["model"] == m]
        big = [r for r in rs if r["n"] >= 1000]
        f = lambda sel, key: fit_exponent([r["n"] for r in sel], [r[key] for r in sel])  # noqa: E731
        lines.append(f"| {m} | {f(rs, 'time_s'):.2f} | {f(big, 'time_s'):.2f} | {f(rs, 'peak_mb'):.2f} "
                     f"| {f(big, 'peak_mb'):.2f} |")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    return text


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--out", default=os.path.join(_ROOT, "benchmarks", "results", "mlpf_scaling.md"))
    a = ap.parse_args(argv)
    import torch

    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for m in a.models.split(","):
        for n in map(int, a.sizes.split(",")):
            r = measure_subprocess(m, n, a.repeats, device, a.threads)
            print(json.dumps(r), flush=True)
            rows.append(r)
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "no GPU"
    machine = (f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()}-core CPU, {gpu}, "
               f"torch {torch.__version__}, {a.threads} thread(s), device {device}, {time.strftime('%Y-%m-%d')}")
    command = "python benchmarks/mlpf_scaling.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(write_table(rows, a.out, command.strip(), machine))


if __name__ == "__main__":
    main()
