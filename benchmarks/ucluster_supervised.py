"""Supervised reference for UCluster -> benchmarks/results/ucluster_supervised.md.

How well can the UCluster network separate W, Z and top jets of the generated samples when it is *told*
the labels?  The same ABCNet-style backbone and pooled embedding as the trainable (``build_model`` of
``trainables.ucluster.training`` with the trainable's pooling options), but the head predicts the three
classes and is trained with cross-entropy on the truth labels.  Its test accuracy bounds what an
unsupervised clustering of the same embedding can be expected to reach on these jets: the UCluster
paper's 0.81 (Mikuni & Canelli, PRD 103 (2021) 092007) is on HLS4ML jets, not on these.

Same cached files as benchmarks/ucluster_hpo.py (training file 3 x 3000 jets, data_seed 0, 80/20 split by
the run's seed; test file 3 x 500 jets, data_seed 1), one torch thread per run, two runs at a time:

    python benchmarks/ucluster_supervised.py     # ~30 min on 2 cores (width 0.25 x 2 seeds, width 1.0 x 1)
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _train(job: tuple) -> dict:
    """One supervised run: (width, seed, epochs, lr, lr_decay, batch, train_path, test_path) -> per-epoch rows."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from trainables.ucluster.data import load_split, load_splits
    from trainables.ucluster.training import build_model, recalibrate_batchnorm, resolve

    width, seed, epochs, lr, lr_decay, batch, train_path, test_path = job
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    train, val = load_splits(train_path, split_seed=seed)
    test = load_split(test_path)
    cfg = resolve({"width": width, "embed_dim": 8, "n_mass_bins": 3, "seed": seed})
    net = build_model(cfg)  # the trainable's network; its 'mass-bin' head has 3 outputs = W, Z, top
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.truth).long()
    gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def accuracy(split) -> float:
        net.eval()
        pred = torch.cat([net(torch.from_numpy(split.x[s:s + 1024]))[0].argmax(1) for s in range(0, len(split), 1024)])
        return float((pred.numpy() == split.truth).mean())

    rows = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr * lr_decay ** epoch
        net.train()
        order = torch.randperm(len(x), generator=gen)
        for s in range(0, len(x) - 1, batch):
            idx = order[s:s + batch]
            loss = F.cross_entropy(net(x[idx])[0], y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        pick = torch.from_numpy(np.random.default_rng(seed + epoch).choice(len(x), min(len(x), 2048), replace=False))
        recalibrate_batchnorm(net, x[pick], batch, "cpu")
        rows.append({"epoch": epoch + 1, "val": accuracy(val), "test": accuracy(test),
                     "s": time.perf_counter() - t0})
        print(json.dumps({"width": width, "seed": seed, **rows[-1]}), flush=True)
    return {"width": width, "seed": seed, "n_train": len(train), "n_val": len(val), "n_test": len(test), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="0.25:0:20,0.25:1:20,1.0:0:12",
                    help="comma-separated width:seed:epochs")
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--lr-decay", type=float, default=0.85)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ucluster_supervised.md"))
    a = ap.parse_args()

    from trainables.ucluster import prepare

    train_path = prepare({"jets_per_class": 3000, "data_seed": 0, "progress": False})["data_path"]
    test_path = prepare({"jets_per_class": 500, "data_seed": 1, "progress": False})["data_path"]
    jobs = [(float(w), int(s), int(e), a.lr, a.lr_decay, a.batch_size, train_path, test_path)
            for w, s, e in (r.split(":") for r in a.runs.split(","))]
    jobs.sort(key=lambda j: -j[0] * j[2])  # longest first
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        out = pool.map(_train, jobs, chunksize=1)
    wall = time.perf_counter() - t0
    out.sort(key=lambda r: (r["width"], r["seed"]))

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ucluster_hpo import _cpu_model  # the benchmark script beside this file

    command = "python benchmarks/ucluster_supervised.py" + "".join(f" {x}" for x in sys.argv[1:])
    lines = [
        "# UCluster: the same network trained WITH labels (supervised reference)",
        "",
        f"Produced by `{command}` on {platform.machine()}, {_cpu_model()}, {os.cpu_count()} CPU cores, no GPU; "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; wall time {wall / 60:.1f} min (two runs at a time, one thread each).",
        "",
        "The trainable's network (`training.build_model`: ABCNet-style GAP layers, masked-mean pooled 8-d embedding, "
        "non-affine BatchNorm, the 256-128 head) with a 3-class head trained by cross-entropy on the W/Z/top labels; "
        f"Adam lr {a.lr:g} x {a.lr_decay:g}^epoch, batch {a.batch_size}, precise-BN recalibration each epoch. "
        "Data: the UCluster benchmark's cached files (training file 9000 jets, data_seed 0, 80/20 train/validation "
        f"split by the run's seed: {out[0]['n_train']} / {out[0]['n_val']} jets; independent test file, data_seed 1, "
        f"{out[0]['n_test']} jets). Accuracy = argmax of the head against the truth. Nothing is selected on the test "
        "jets; the last epoch is reported.",
        "",
        "| width | seed | epochs | val (last) | test (last) | best val | test at best val | s/epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in out:
        last = r["rows"][-1]
        best = max(r["rows"], key=lambda row: row["val"])
        spe = sum(row["s"] for row in r["rows"]) / len(r["rows"])
        lines.append(f"| {r['width']:g} | {r['seed']} | {len(r['rows'])} | {last['val']:.3f} | {last['test']:.3f} | "
                     f"{best['val']:.3f} (epoch {best['epoch']}) | {best['test']:.3f} | {spe:.0f} |")
    lines += ["", "Per epoch (val / test):", "", "| epoch | " + " | ".join(f"width {r['width']:g}, seed {r['seed']}"
                                                                            for r in out) + " |",
              "|---|" + "---|" * len(out)]
    for e in range(max(len(r["rows"]) for r in out)):
        lines.append(f"| {e + 1} | " + " | ".join(f"{r['rows'][e]['val']:.3f} / {r['rows'][e]['test']:.3f}"
                                                  if e < len(r["rows"]) else "–" for r in out) + " |")
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
