"""UCluster HPO benchmark on generated W/Z/top jets -> benchmarks/results/ucluster.md.

Generates (or reuses from the cache) a training sample and an independent test sample with Pythia 8 +
FastJet, runs ``hpo.tune`` on ``search_spaces/ucluster.yaml`` (random search + ASHA, selected on the
validation clustering accuracy), and writes the best trial's clustering accuracy on the test sample next
to k-means on the jet mass alone and the published 0.81 (Mikuni & Canelli, PRD 103 (2021) 092007).

    python benchmarks/ucluster_hpo.py                 # ~35 min on a 2-core CPU (diagnostics + search)
    python benchmarks/ucluster_hpo.py --num-samples 4 --max-epochs 6 --out /tmp/u.md   # quick look

``--space`` / ``--search`` run another space with another searcher on the same files, e.g. the second-stage
search of benchmarks/results/ucluster_wide.md (``--space ucluster_wide.yaml --search tpe --num-samples 16
--diagnostic-epochs 0 --out benchmarks/results/ucluster_wide.md``).

Confirmation of one configuration (no search, no diagnostics; ``benchmarks/ucluster_confirm.py``): train the
search's best (or ``--confirm-config``) with several model seeds on the same cached files, longer, and write
benchmarks/results/ucluster_confirm.md:

    python benchmarks/ucluster_hpo.py --confirm-only --seeds 0 1 2 --confirm-epochs 20   # ~19 min on 2 cores
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
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


def jet_table(path: str):
    """(ungroomed mass, soft-drop mass, multiplicity, label) of the W/Z/top jets in the 10-200 GeV window,
    in file order (the same selection as ``trainables.ucluster.features.select_jets``)."""
    import h5py
    import numpy as np

    from trainables.ucluster.features import MASS_WINDOW
    from trainables.ucluster.hls4ml import CLASSES

    with h5py.File(path, "r") as fh:
        jets = fh["jets"][()]
        names = [n.decode() for n in fh["jetFeatureNames"][()]]
    col = {n: i for i, n in enumerate(names)}
    onehot = jets[:, [col[c] for c in CLASSES]]
    label = np.where(onehot.max(1) > 0.5, onehot.argmax(1), -1)
    m = jets[:, col["j_mass"]].astype(np.float64)
    keep = (label >= 0) & (m > MASS_WINDOW[0]) & (m < MASS_WINDOW[1])
    return (m[keep], jets[keep, col["j_mass_mmdt"]].astype(np.float64),
            jets[keep, col["j_multiplicity"]].astype(np.float64), label[keep])


def supervised_references(train_path: str, test_path: str) -> dict:
    """Test accuracy of SUPERVISED gradient-boosted trees on jet-level quantities of the training file
    (all of it, labels used): what these generator-level jets allow at all with mass-like information."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    m, sd, mult, y = jet_table(train_path)
    mt, sdt, multt, yt = jet_table(test_path)
    out = {}
    for name, cols, cols_t in (("m", [m], [mt]), ("m_sd", [sd], [sdt]),
                               ("m, m_sd, multiplicity", [m, sd, mult], [mt, sdt, multt])):
        clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0)
        pred = clf.fit(np.stack(cols, 1), y).predict(np.stack(cols_t, 1))
        wz = yt < 2
        out[name] = {"acc": float((pred == yt).mean()), "wz": float((pred[wz] == yt[wz]).mean()),
                     "top": float((pred[yt == 2] == 2).mean())}
    return out


def structure_of_the_sample(train_path: str) -> list[str]:
    """Markdown: is there W/Z cluster structure at all?  W+Z jet histograms of the ungroomed and the
    soft-drop mass, and unsupervised 3-means on standardised jet-level quantities (labels for scoring only)."""
    import numpy as np
    from sklearn.cluster import KMeans

    from trainables.ucluster.losses import cluster_accuracy

    m, sd, mult, y = jet_table(train_path)
    wz = y < 2
    edges = np.arange(64.0, 136.0 + 1e-9, 4.0)
    lines = ["## Is there W/Z cluster structure in these jets?", "",
             f"W and Z jets of the search's training file ({int(wz.sum())} jets), counts per 4 GeV bin "
             f"from {edges[0]:.0f} to {edges[-1]:.0f} GeV:", "",
             "| mass | " + " | ".join(f"{e:.0f}" for e in edges[:-1]) + " |",
             "|---|" + "---|" * (len(edges) - 1)]
    for name, values in (("ungroomed m, W", m[y == 0]), ("ungroomed m, Z", m[y == 1]), ("ungroomed m, W+Z", m[wz]),
                         ("soft-drop m, W", sd[y == 0]), ("soft-drop m, Z", sd[y == 1]),
                         ("soft-drop m, W+Z", sd[wz])):
        lines.append(f"| {name} | " + " | ".join(str(c) for c in np.histogram(values, edges)[0]) + " |")
    lines += ["", "Unsupervised 3-means (10 restarts) on standardised jet-level quantities of the same file:", "",
              "| features | clustering accuracy |", "|---|---|"]
    for name, cols in (("m", [m]), ("m_sd", [sd]), ("m, m_sd", [m, sd]), ("m, m_sd, multiplicity", [m, sd, mult])):
        x = np.stack(cols, 1)
        x = (x - x.mean(0)) / x.std(0)
        pred = KMeans(n_clusters=3, n_init=10, random_state=0).fit_predict(x)
        lines.append(f"| {name} | {cluster_accuracy(pred, y):.3f} |")
    return lines + [""]


#: hyperparameters of the best trial of the first committed run (0.638 test): the diagnostics train these
#: with the network variants below, so the table isolates the effect of the model changes
DIAG_CONFIG = {"lr": 0.005243, "lr_decay": 0.7008, "batch_size": 128, "focal_gamma": 4.0, "beta": 10.0,
               "alpha_growth": 1.0, "pretrain_epochs": 3, "embed_dim": 8}
DIAG_VARIANTS = [  # (label, model options)
    ("original: ReLU, mean over all 100 slots", {"pool": "mean", "embed_act": "relu", "z_norm": False}),
    ("original + normalised z", {"pool": "mean", "embed_act": "relu", "z_norm": True}),
    ("masked mean, no ReLU", {"pool": "masked_mean", "embed_act": "none", "z_norm": False}),
    ("masked mean, no ReLU, normalised z", {"pool": "masked_mean", "embed_act": "none", "z_norm": True}),
    ("same, soft-drop mass bins as pre-training target",
     {"pool": "masked_mean", "embed_act": "none", "z_norm": True, "mass_target": "softdrop"}),
]


def train_in_process(cfg: dict, on_report) -> None:
    """Run the trainable's own loop in this process (no Ray, one torch thread, as in a 1-worker trial);
    ``on_report(checkpoint=..., **metrics)`` receives every epoch's report instead of ``hpo.report``.
    Meant for pool workers: it replaces ``hpo.report`` in this process."""
    import torch

    import hpo.session
    import trainables.ucluster.training as T

    torch.set_num_threads(1)
    T.hpo.report = on_report
    with hpo.session.local_session():
        T.train_loop(cfg)


def _diagnose_variant(job: tuple) -> dict:
    """Train one network variant in-process (no Ray) and record, per epoch, the mass-bin classifier
    accuracy, k-means on a fresh fit of the validation embeddings, the cluster sizes and the embedding spread."""
    label, options, base_cfg = job
    import numpy as np
    import torch

    import trainables.ucluster.training as T
    from trainables.ucluster.data import load_splits
    from trainables.ucluster.losses import assign_clusters, cluster_accuracy, kmeans_centroids

    cfg = T.resolve({**base_cfg, **options})
    _, val = load_splits(cfg["data_path"], split_seed=cfg["seed"], target=cfg["mass_target"])
    rows, t0 = [], time.perf_counter()

    def record(checkpoint=None, **m):
        net = T.build_model(cfg)
        net.load_state_dict(checkpoint["model"])
        logits, z = T.embed(net, torch.from_numpy(val.x), cfg["eval_batch_size"], torch.device("cpu"))
        pred_bin = logits.argmax(1).numpy()
        zn = z.numpy()
        fresh = kmeans_centroids(zn, cfg["n_clusters"], cfg["seed"])
        sizes = np.bincount(assign_clusters(z, checkpoint["model"]["centroids"]).numpy(), minlength=cfg["n_clusters"])
        rows.append({"epoch": m["epoch"], "cluster_acc": m["cluster_acc"], "test_cluster_acc": m["test_cluster_acc"],
                     "massbin_acc": float((pred_bin == val.mass_bin).mean()),
                     "massbin_acc1": float((np.abs(pred_bin - val.mass_bin) <= 1).mean()),
                     "kmeans_fresh": cluster_accuracy(assign_clusters(z, torch.from_numpy(fresh).float()).numpy(),
                                                      val.truth),
                     "z_std": float(zn.std(0).mean()), "dead_dims": int((zn.std(0) < 1e-6).sum()),
                     "zero_frac": float((zn == 0).mean()),
                     "min_cluster": float(sizes.min() / sizes.sum()), "joint": m["epoch"] >= cfg["pretrain_epochs"],
                     "s": time.perf_counter() - t0})

    train_in_process(cfg, record)
    return {"label": label, "options": options, "rows": rows}


def diagnostics(train_path: str, test_path: str, epochs: int) -> list[str]:
    """Markdown section: the DIAG_VARIANTS trained with DIAG_CONFIG, two at a time."""
    import multiprocessing

    base = {**DIAG_CONFIG, "data_path": train_path, "test_path": test_path, "max_epochs": epochs, "width": 0.25}
    jobs = [(label, opts, base) for label, opts in DIAG_VARIANTS]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        out = pool.map(_diagnose_variant, jobs, chunksize=1)
    pre = DIAG_CONFIG["pretrain_epochs"] - 1
    lines = ["## Diagnostics: network variants with the first run's best hyperparameters", "",
             f"`{json.dumps(DIAG_CONFIG)}`, width 0.25, {epochs} epochs ({DIAG_CONFIG['pretrain_epochs']} of "
             "mass-bin pre-training), training file and split as listed under Setup, same test file, one thread each. Mass-bin "
             "accuracy: the pre-training classifier on the validation jets (20 bins of 10 GeV; exact bin / within "
             "one bin). k-means (fresh): a new 3-means fit on the validation embeddings, i.e. how well the embedding "
             "separates the classes whatever the trained centroids do. Smallest cluster: fraction of validation "
             "jets assigned to the emptiest trained centroid (1/3 = balanced, 0 = collapsed). z spread: mean "
             "standard deviation of the embedding dimensions; zero: fraction of exactly-0 embedding entries.", "",
             "| variant | mass-bin acc after pre-training | k-means (fresh) after pre-training | final mass-bin acc | "
             "final k-means (fresh) | z spread after pre-training → final | zero | smallest cluster (final) | "
             "val acc | test acc | s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in out:
        p, f = r["rows"][min(pre, len(r["rows"]) - 1)], r["rows"][-1]
        lines.append(f"| {r['label']} | {p['massbin_acc']:.3f} / {p['massbin_acc1']:.3f} | {p['kmeans_fresh']:.3f} | "
                     f"{f['massbin_acc']:.3f} / {f['massbin_acc1']:.3f} | {f['kmeans_fresh']:.3f} | "
                     f"{p['z_std']:.3f} → {f['z_std']:.3f} | {f['zero_frac']:.2f} | {f['min_cluster']:.3f} | "
                     f"{f['cluster_acc']:.3f} | {f['test_cluster_acc']:.3f} | {f['s']:.0f} |")
    lines += ["", "(During pre-training, epochs < pretrain_epochs, there are no trained centroids yet: val acc is then "
              "the fresh k-means fit, and no cluster size is given.)"]
    lines += ["", "Per epoch (val acc with the trained centroids / k-means fresh / smallest cluster):", "",
              "| epoch | " + " | ".join(r["label"] for r in out) + " |", "|---|" + "---|" * len(out)]
    for e in range(epochs):
        cells = []
        for r in out:
            x = r["rows"][e]
            size = f"{x['min_cluster']:.2f}" if x["joint"] else "–"
            cells.append(f"{x['cluster_acc']:.3f} / {x['kmeans_fresh']:.3f} / {size}")
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    return lines + [""]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jets-per-class", type=int, default=3000, help="training file of the search")
    ap.add_argument("--test-jets-per-class", type=int, default=500)
    ap.add_argument("--num-samples", type=int, default=8)
    ap.add_argument("--max-epochs", type=int, default=12)
    ap.add_argument("--grace-period", type=int, default=4)
    ap.add_argument("--time-limit-min", type=float, default=24.0, help="wall-clock budget of the search")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--space", default="ucluster.yaml", help="search space under search_spaces/")
    ap.add_argument("--search", default="random", help="searcher of the search (random, tpe, ...)")
    ap.add_argument("--diagnostic-epochs", type=int, default=8,
                    help="epochs of each network variant in the diagnostics section (0: skip it)")
    ap.add_argument("--diagnostic-jets-per-class", type=int, default=1500,
                    help="training file of the diagnostics (1500: the sample of the first committed run)")
    ap.add_argument("--out", default=None,
                    help="default benchmarks/results/ucluster.md (ucluster_confirm.md with --confirm-only)")
    ap.add_argument("--confirm-only", action="store_true",
                    help="no search: train one configuration with --seeds for --confirm-epochs epochs")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="model seeds of --confirm-only")
    ap.add_argument("--confirm-epochs", type=int, default=20)
    ap.add_argument("--confirm-config", default=None,
                    help="JSON hyperparameters for --confirm-only (default: BEST_CONFIG, the committed search's best)")
    a = ap.parse_args()
    if a.confirm_only:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from ucluster_confirm import confirm  # benchmarks/ucluster_confirm.py

        confirm(a)
        return
    a.out = a.out or str(ROOT / "benchmarks" / "results" / "ucluster.md")

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
    references = supervised_references(train_args["data_path"], test_args["data_path"])
    structure_lines = structure_of_the_sample(train_args["data_path"])

    t_diag = time.perf_counter()
    diag_lines, diag_sizes = [], ""
    if a.diagnostic_epochs > 0:
        diag_path = prepare({"jets_per_class": a.diagnostic_jets_per_class, "data_seed": 0,
                             "progress": False})["data_path"]
        d_train, d_val = load_splits(diag_path, split_seed=a.seed)
        diag_sizes = (f"diagnostics: training file {3 * a.diagnostic_jets_per_class} jets (data_seed 0: "
                      f"{len(d_train)} train / {len(d_val)} validation after the window), same test file")
        diag_lines = diagnostics(diag_path, test_args["data_path"], a.diagnostic_epochs)
    diag_s = time.perf_counter() - t_diag

    t_hpo = time.perf_counter()
    space_path = ROOT / "search_spaces" / a.space
    with tempfile.TemporaryDirectory(prefix="ucluster_bench_") as storage:
        res = hpo.tune("ucluster", space=str(space_path), metric="cluster_acc",
                       mode="max", num_samples=a.num_samples, max_epochs=a.max_epochs,
                       scheduler={"name": "asha", "grace_period": a.grace_period, "reduction_factor": 2},
                       search=a.search, seed=a.seed, storage=storage, max_concurrent=2, verbose=False,
                       time_limit_s=60 * a.time_limit_min,
                       trainable_args={"data_path": train_args["data_path"], "test_path": test_args["data_path"],
                                       "jets_per_class": a.jets_per_class})
    hpo_s = time.perf_counter() - t_hpo
    total_s = time.perf_counter() - t_start

    import yaml

    space_doc = yaml.safe_load(space_path.read_text())
    space_keys = list(space_doc["hyperparameters"])
    fixed = {k: v for k, v in space_doc["trainable"]["args"].items()
             if k in ("width", "k", "n_mass_bins", "focal_alpha", "pool", "embed_act", "z_norm", "mass_target",
                      "batch_size")
             and k not in space_keys}
    curves, trials = res.curves, res.trials
    best = curves[curves["trial_id"] == res.best_trial_id].sort_values("epoch")
    last = best.iloc[-1]
    per_trial = curves.sort_values("epoch").groupby("trial_id").last()
    space_keys = [k for k in space_keys if k in trials.columns]
    command = "python benchmarks/ucluster_hpo.py" + ("".join(f" {x}" for x in sys.argv[1:]))
    lines = [
        "# UCluster: HPO on generated W/Z/top jets",
        "",
        f"Produced by `{command}` on {platform.machine()}, {_cpu_model()}, {os.cpu_count()} CPU cores, no GPU, "
        f"machine shared with other jobs; {time.strftime('%Y-%m-%d %H:%M %Z')}.",
        "",
        "## Setup",
        "",
        f"* Data: Pythia 8 + FastJet (generator level, MPI on), `trainables/ucluster/generate.py`. Search: training "
        f"file {3 * a.jets_per_class} jets (data_seed 0; 80/20 train/validation split after the 10-200 GeV mass "
        f"window: {len(train)} train / {len(val)} validation jets); independent test file "
        f"{3 * a.test_jets_per_class} jets (data_seed 1; {len(test)} after the window)"
        + (f"; {diag_sizes}." if diag_sizes else "."),
        f"* Generation rate: {gen_train['jets_per_s']:.1f} jets/s wall with {gen_train['workers']} processes, "
        f"{gen_train['jets_per_cpu_s']:.1f} jets per CPU-second (training file, {gen_train['wall_s']:.0f} s); "
        f"test file {gen_test['jets_per_s']:.1f} jets/s. (Cached samples are reused; the rates are those measured "
        "when the files were generated.)",
        f"* Search: `hpo.tune` on `search_spaces/{a.space}` ({a.search} search, seed {a.seed}, {a.num_samples} trials, "
        f"ASHA grace {a.grace_period}, reduction 2, max {a.max_epochs} epochs, 2 concurrent 1-CPU trials, "
        f"fixed: {', '.join(f'{k}={v}' for k, v in fixed.items())}; search time limit {a.time_limit_min:g} min, "
        "trials still running at the limit are cut there). Selection metric: validation `cluster_acc` at the "
        "last epoch; the test sample is never used for selection.",
        f"* Wall time: whole script {total_s / 60:.1f} min = generation/references "
        f"{(t_diag - t_start) / 60:.1f} min + diagnostics {diag_s / 60:.1f} min + HPO {hpo_s / 60:.1f} min.",
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
    ]
    for name, r in references.items():
        lines.append(f"| reference, uses labels: boosted trees on ({name}), trained on the whole training file | | "
                     f"{r['acc']:.3f} (W/Z jets {r['wz']:.3f}, top {r['top']:.3f}) |")
    lines += [
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
    lines += [""] + structure_lines + diag_lines
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
