"""UCluster HPO benchmark on generated W/Z/top jets -> benchmarks/results/ucluster.md.

Generates (or reuses from the cache) a training sample and an independent test sample with Pythia 8 +
FastJet, runs ``hpo.tune`` on ``search_spaces/ucluster.yaml`` (random search + ASHA, selected on the
validation clustering accuracy), and writes the best trial's clustering accuracy on the test sample next
to k-means on the jet mass alone and the published 0.81 (Mikuni & Canelli, PRD 103 (2021) 092007).

    python benchmarks/ucluster_hpo.py                 # <= 20 min search + generation on a 2-core CPU
    python benchmarks/ucluster_hpo.py --num-samples 4 --max-epochs 6 --out /tmp/u.md   # quick look
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generation_stats(path: str) -> dict:
    with open(os.path.join(os.path.dirname(path), "generation.json")) as fh:
        return json.load(fh)


def mass_only_ceiling(train_mass, train_truth, test_mass, test_truth, width_gev: float = 2.0) -> float:
    """Accuracy of the best decision on the jet mass alone, learned WITH labels (histogram majority per
    2 GeV bin of the training jets): how far any mass-only clustering could get on these jets."""
    import numpy as np

    edges = np.arange(0.0, 200.0 + width_gev, width_gev)
    counts = np.stack([np.histogram(train_mass[train_truth == c], edges)[0] for c in range(3)])
    decision = counts.argmax(0)
    bins = np.clip(np.digitize(test_mass, edges) - 1, 0, len(decision) - 1)
    return float((decision[bins] == test_truth).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jets-per-class", type=int, default=1500)
    ap.add_argument("--test-jets-per-class", type=int, default=500)
    ap.add_argument("--num-samples", type=int, default=6)
    ap.add_argument("--max-epochs", type=int, default=10)
    ap.add_argument("--grace-period", type=int, default=3)
    ap.add_argument("--time-limit-min", type=float, default=20.0, help="wall-clock budget of the search")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ucluster.md"))
    a = ap.parse_args()

    import torch

    import hpo
    from trainables.ucluster import prepare
    from trainables.ucluster.data import load_split, load_splits
    from trainables.ucluster.losses import mass_kmeans_accuracy

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    train_args = prepare({"jets_per_class": a.jets_per_class, "data_seed": 0, "progress": False})
    test_args = prepare({"jets_per_class": a.test_jets_per_class, "data_seed": 1, "progress": False})
    gen_train, gen_test = _generation_stats(train_args["data_path"]), _generation_stats(test_args["data_path"])
    train, val = load_splits(train_args["data_path"], split_seed=a.seed)
    test = load_split(test_args["data_path"])
    baseline = {"val": mass_kmeans_accuracy(val.mass, val.truth), "test": mass_kmeans_accuracy(test.mass, test.truth)}
    ceiling = {"val": mass_only_ceiling(train.mass, train.truth, val.mass, val.truth),
               "test": mass_only_ceiling(train.mass, train.truth, test.mass, test.truth)}

    t_hpo = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ucluster_bench_") as storage:
        res = hpo.tune("ucluster", space=str(ROOT / "search_spaces" / "ucluster.yaml"), metric="cluster_acc",
                       mode="max", num_samples=a.num_samples, max_epochs=a.max_epochs,
                       scheduler={"name": "asha", "grace_period": a.grace_period, "reduction_factor": 2},
                       search="random", seed=a.seed, storage=storage, max_concurrent=2, verbose=False,
                       time_limit_s=60 * a.time_limit_min,
                       trainable_args={"data_path": train_args["data_path"], "test_path": test_args["data_path"],
                                       "jets_per_class": a.jets_per_class})
    hpo_s = time.perf_counter() - t_hpo
    total_s = time.perf_counter() - t_start

    curves, trials = res.curves, res.trials
    best = curves[curves["trial_id"] == res.best_trial_id].sort_values("epoch")
    last = best.iloc[-1]
    per_trial = curves.sort_values("epoch").groupby("trial_id").last()
    space_keys = [k for k in ("lr", "lr_decay", "batch_size", "focal_gamma", "beta", "alpha_growth",
                              "pretrain_epochs", "embed_dim") if k in trials.columns]
    lines = [
        "# UCluster: HPO on generated W/Z/top jets",
        "",
        f"Produced by `python benchmarks/ucluster_hpo.py` (defaults) on {platform.machine()} with "
        f"{os.cpu_count()} CPU cores, no GPU, machine shared with other jobs; {time.strftime('%Y-%m-%d')}.",
        "",
        "## Setup",
        "",
        f"* Data: Pythia 8 + FastJet (generator level, MPI on), `trainables/ucluster/generate.py`. Training file "
        f"{3 * a.jets_per_class} jets (data_seed 0; 80/20 train/validation split after the 10-200 GeV mass window: "
        f"{len(val)} validation jets); independent test file {3 * a.test_jets_per_class} jets (data_seed 1; "
        f"{len(test)} after the window).",
        f"* Generation rate: {gen_train['jets_per_s']:.1f} jets/s wall with {gen_train['workers']} processes, "
        f"{gen_train['jets_per_cpu_s']:.1f} jets per CPU-second (training file, {gen_train['wall_s']:.0f} s); "
        f"test file {gen_test['jets_per_s']:.1f} jets/s. (Cached samples are reused; the rates are those measured "
        "when the files were generated.)",
        f"* Search: `hpo.tune` on `search_spaces/ucluster.yaml` (random search, seed {a.seed}, {a.num_samples} trials, "
        f"ASHA grace {a.grace_period}, reduction 2, max {a.max_epochs} epochs, 2 concurrent 1-CPU trials, width 0.25, "
        f"search time limit {a.time_limit_min:g} min; trials still running at the limit are cut there). "
        "Selection metric: validation `cluster_acc` at the last epoch; the test sample is never used for selection.",
        f"* Wall time: HPO {hpo_s / 60:.1f} min, whole script {total_s / 60:.1f} min (including any generation).",
        "",
        "## Result (clustering accuracy, Hungarian-matched, 3 clusters)",
        "",
        "| method | validation | test |",
        "|---|---|---|",
        f"| k-means on the jet mass alone | {baseline['val']:.3f} | {baseline['test']:.3f} |",
        f"| UCluster, best HPO trial (last epoch, {int(last['epoch'])} epochs) | {last['cluster_acc']:.3f} | "
        f"{last['test_cluster_acc']:.3f} |",
        f"| UCluster, best HPO trial, best epoch on validation | {best['cluster_acc'].max():.3f} | "
        f"{best.loc[best['cluster_acc'].idxmax(), 'test_cluster_acc']:.3f} |",
        "| UCluster paper (HLS4ML jets, full model, 100+ epochs) | 0.81 | |",
        f"| reference, uses labels: best decision on the mass alone (2 GeV bins) | {ceiling['val']:.3f} | "
        f"{ceiling['test']:.3f} |",
        "",
        f"Best configuration (trial {res.best_trial_id}): "
        + ", ".join(f"`{k}`={res.best_config[k]:.4g}" if isinstance(res.best_config[k], float)
                    else f"`{k}`={res.best_config[k]}" for k in space_keys) + ".",
        "",
        "## All trials",
        "",
        "| trial | " + " | ".join(space_keys) + " | epochs | status | val acc | test acc |",
        "|---|" + "---|" * (len(space_keys) + 4),
    ]
    for _, row in trials.iterrows():
        pt = per_trial.loc[row["trial_id"]] if row["trial_id"] in per_trial.index else None
        vals = [f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k]) for k in space_keys]
        lines.append(f"| {row['trial_id']} | " + " | ".join(vals) + f" | {row['epochs']} | {row['status']} | "
                     + (f"{pt['cluster_acc']:.3f} | {pt['test_cluster_acc']:.3f} |" if pt is not None else "| |"))
    lines += ["", "## Best trial, per epoch", "", "| epoch | alpha | val_loss | loss_focal | loss_km | val acc | test acc |",
              "|---|---|---|---|---|---|---|"]
    for _, r in best.iterrows():
        lines.append(f"| {int(r['epoch'])} | {r['alpha']:.0f} | {r['val_loss']:.3f} | {r['loss_focal']:.3f} | "
                     f"{r['loss_km']:.4f} | {r['cluster_acc']:.3f} | {r['test_cluster_acc']:.3f} |")
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
