"""Learning-curve predictor benchmark on the published MLPF Delphes curves (issue #4).

Compares NuSVR (scikit-learn defaults, the Swift-Hyperband reference predictor), epsilon-SVR with
the Q-SVR's implied box C = C_eff, the Q-SVR trained by simulated annealing (one QUBO of at most
20 curves: a random subset when more are given, as in Swift) and the Q-SVR ensemble on disjoint
subsets (Pasetto et al., IEEE GRSL 19 (2022); Wulff, Garcia Amboage et al., Quantum Machine
Intelligence 6, 59 (2024)), each with the published setting (``preset: published``) and with the
Q-SVR defaults (``preset: smoothed``: running median, 5 curve points + first differences, centred
target), plus an ablation of the smoothed preset and a check of both presets on 40 other splits.  Protocol: X = every second loss of the known epochs (anchored at the
last known epoch, as in the published Q-SVR studies), y = final loss (epoch 100), MinMax scaling
inside every estimator, standard r2_score(truth, prediction) on all curves not used for training,
10 random splits.  The one curve that diverges after epoch 90 (final loss 597 vs <= 538 for all
others) is left out, as the published study did (``--keep-outlier`` keeps it).

    python benchmarks/predictors.py            # writes benchmarks/results/predictors.md
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# ``predictors`` package: replace that entry by the repository root.
_HERE = Path(__file__).resolve().parent
sys.path = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from hpo.datasets import resolve_table  # noqa: E402
from predictors import QSVRPredictor, SVRPredictor, preset_options  # noqa: E402
from predictors.qubo import effective_c  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
C_EFF = effective_c(3, 0.5, 0.005)
PUBLISHED = dict(preset_options("qsvr", "published"), stride=2)   # S2's 13 features
SMOOTHED = preset_options("qsvr", "smoothed")                       # the Q-SVR defaults
SMOOTH_FEATURES = {k: SMOOTHED[k] for k in ("first_differences", "median_window", "curve_points")}


def models(reads: int, sweeps: int) -> dict:
    q = dict(PUBLISHED, num_reads=reads, num_sweeps=sweeps)
    qs = dict(SMOOTHED, num_reads=reads, num_sweeps=sweeps)
    return {
        "NuSVR (defaults)": lambda s: SVRPredictor(stride=2, error="none"),
        f"SVR C=C_eff={C_EFF:.3f}": lambda s: SVRPredictor(kind="epsilon", C=C_EFF, epsilon=0.02,
                                                           gamma=0.1, stride=2, error="none"),
        f"Q-SVR SA {reads}x{sweeps}": lambda s: QSVRPredictor(**dict(q, large_n="subsample"),
                                                               random_state=s),
        f"Q-SVR ensemble SA {reads}x{sweeps}": lambda s: QSVRPredictor(**q, random_state=s),
        "SVR C=C_eff, smoothed features": lambda s: SVRPredictor(
            kind="epsilon", C=C_EFF, epsilon=0.02, gamma=0.1, error="none", **SMOOTH_FEATURES),
        f"Q-SVR SA {reads}x{sweeps}, preset smoothed": lambda s: QSVRPredictor(
            **dict(qs, large_n="subsample"), random_state=s),
        f"Q-SVR ensemble SA {reads}x{sweeps}, preset smoothed": lambda s: QSVRPredictor(
            **qs, random_state=s),
    }


def sa_variants() -> dict:
    """Speed/quality of the annealer settings in the target cell (25 % known, 20 curves)."""
    return {
        "Q-SVR SA 1000x1000, sampler's default beta range (published setting)":
            lambda s: QSVRPredictor(**dict(PUBLISHED, num_reads=1000, num_sweeps=1000,
                                           beta_range=None), random_state=s),
        "Q-SVR SA 30x300, beta 1..1000":
            lambda s: QSVRPredictor(**dict(PUBLISHED, num_reads=30, num_sweeps=300), random_state=s),
        "Q-SVR SA 100x1000, beta 1..1000":
            lambda s: QSVRPredictor(**dict(PUBLISHED, num_reads=100, num_sweeps=1000),
                                    random_state=s),
        "Q-SVR SA 50x500, combine=min_energy":
            lambda s: QSVRPredictor(**dict(PUBLISHED, combine="min_energy"), random_state=s),
        "Q-SVR SA 50x500, combine=fit_softmax":
            lambda s: QSVRPredictor(**dict(PUBLISHED, combine="fit_softmax"), random_state=s),
    }


def smoothed_ablation() -> dict:
    """Which part of preset smoothed matters (25 % known; annealer 50x500): name -> (n, make)."""
    def q(**changes):
        return lambda s: QSVRPredictor(**dict(SMOOTHED, large_n="subsample", **changes),
                                       random_state=s)
    return {
        "Q-SVR SA 50x500, published (stride 2) + center_y": (20, lambda s: QSVRPredictor(
            **dict(PUBLISHED, center_y=True), random_state=s)),
        "Q-SVR SA 50x500, smoothed with center_y=false": (20, q(center_y=False)),
        "Q-SVR SA 50x500, smoothed with median_window=1": (20, q(median_window=1)),
        "Q-SVR SA 50x500, smoothed with first_differences=false": (20, q(first_differences=False)),
        "Q-SVR ensemble SA 50x500, smoothed with ensemble_scaling=global": (80, lambda s: (
            QSVRPredictor(**dict(SMOOTHED, ensemble_scaling="global"), random_state=s))),
    }


def evaluate(make, curves, known, n_train, splits, first_seed=0):
    X, y = curves[:, :known], curves[:, -1]
    r2, fit_s, pred_s, fallbacks = [], [], [], 0
    for split in range(first_seed, first_seed + splits):
        order = np.random.default_rng(split).permutation(len(curves))
        tr, te = order[:n_train], order[n_train:]
        est = make(split)
        t0 = time.perf_counter()
        est.fit(X[tr], y[tr])
        t1 = time.perf_counter()
        pred = est.predict(X[te])
        t2 = time.perf_counter()
        r2.append(r2_score(y[te], pred))
        fit_s.append(t1 - t0)
        pred_s.append(t2 - t1)
        fallbacks += getattr(est, "n_bias_fallbacks_", 0)
    r2 = np.asarray(r2)
    return dict(mean=r2.mean(), median=np.median(r2), sd=r2.std(ddof=1), min=r2.min(),
                fit=np.mean(fit_s), predict=np.mean(pred_s), fallbacks=fallbacks)


def row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default="mlpf_delphes", help="table name (hpo.datasets) or CSV path")
    ap.add_argument("--out", default="benchmarks/results/predictors.md")
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--known", type=int, nargs="+", default=[10, 25, 50], help="percent known")
    ap.add_argument("--train", type=int, nargs="+", default=[20, 40, 80])
    ap.add_argument("--reads", type=int, default=50)
    ap.add_argument("--sweeps", type=int, default=500)
    ap.add_argument("--keep-outlier", action="store_true")
    ap.add_argument("--no-variants", action="store_true", help="skip the annealer-setting study")
    ap.add_argument("--check-splits", type=int, default=40,
                    help="disjoint splits (seeds 100..) for the published-vs-smoothed check; 0: skip")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    curves = pd.read_csv(resolve_table(args.table)).filter(like="loss_").to_numpy()
    n_all = len(curves)
    if not args.keep_outlier:
        curves = curves[curves[:, -1] < 590.0]
    epochs = curves.shape[1]
    start = time.perf_counter()
    head = ["known", "train curves", "model", "R² mean", "median", "sd", "min", "fit s",
            "predict s", "bias fallbacks"]
    lines = [row(head), row(["---"] * len(head))]

    def add(label_known, n_train, name, res):
        lines.append(row([label_known, str(n_train), name, f"{res['mean']:.3f}",
                          f"{res['median']:.3f}", f"{res['sd']:.3f}", f"{res['min']:.3f}",
                          f"{res['fit']:.3f}", f"{res['predict']:.4f}", str(res["fallbacks"])]))
        print(lines[-1], flush=True)

    for pct in args.known:
        known = round(epochs * pct / 100)
        for n_train in args.train:
            for name, make in models(args.reads, args.sweeps).items():
                if "ensemble" in name and n_train <= 20:
                    continue                        # one QUBO holds all curves: same as Q-SVR
                add(f"{pct} % ({known} ep)", n_train, name,
                    evaluate(make, curves, known, n_train, args.splits))
    if not args.no_variants:
        for name, make in sa_variants().items():
            add("25 % (25 ep)", 20, name, evaluate(make, curves, round(epochs * 0.25), 20,
                                                   args.splits))
        for name, (n_train, make) in smoothed_ablation().items():
            add("25 % (25 ep)", n_train, name, evaluate(make, curves, round(epochs * 0.25),
                                                        n_train, args.splits))
    check = []
    if args.check_splits:
        check = [row(head), row(["---"] * len(head))]
        q = dict(num_reads=args.reads, num_sweeps=args.sweeps)
        for n_train, label, opts in [
                (20, "Q-SVR SA, published (stride 2)", dict(PUBLISHED, large_n="subsample")),
                (20, "Q-SVR SA, preset smoothed", dict(SMOOTHED, large_n="subsample")),
                (80, "Q-SVR ensemble, published (stride 2)", PUBLISHED),
                (80, "Q-SVR ensemble, preset smoothed", SMOOTHED)]:
            res = evaluate(lambda s, o=opts: QSVRPredictor(**{**o, **q}, random_state=s), curves,
                           round(epochs * 0.25), n_train, args.check_splits, first_seed=100)
            check.append(row(["25 % (25 ep)", str(n_train), label, f"{res['mean']:.3f}",
                              f"{res['median']:.3f}", f"{res['sd']:.3f}", f"{res['min']:.3f}",
                              f"{res['fit']:.3f}", f"{res['predict']:.4f}",
                              str(res["fallbacks"])]))
            print(check[-1], flush=True)
    total = time.perf_counter() - start
    command = "python benchmarks/predictors.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = [
        "# Learning-curve predictors on the MLPF Delphes curves",
        "",
        f"Command: `{command.strip()}` (from the repository root, `.venv/bin/python`).",
        f"Machine: 2-core CPU, no GPU ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, shared with other work while running); total run "
        f"time {total:.0f} s.",
        "",
        f"Data: `{args.table}` ({n_all} curves, {epochs} epochs; {len(curves)} used"
        f"{'' if args.keep_outlier else ', the curve diverging after epoch 90 left out'}). "
        "X = every second loss of the known epochs (anchored at the last known one), y = final "
        "loss; MinMax scaling of X and y inside each estimator; test = all curves not used for "
        f"training; standard `r2_score(truth, prediction)`; {args.splits} random splits (seeds "
        "0..). Q-SVR: K=3, B=0.5, k0=0.005, eps=0.02, xi=0.01, gamma=0.1, at most 20 curves per "
        "QUBO (120 binaries, dense), mean of the 4 lowest-energy distinct samples, KKT bias; "
        "'Q-SVR SA' uses a random 20-curve subset when given more (Swift's behaviour), "
        "'ensemble' fits one QUBO per disjoint subset and weights them by held-out R². "
        "Fit times include building the QUBO and annealing (dwave-samplers "
        "SimulatedAnnealingSampler; no quantum annealer was used).",
        "",
        "Rows named 'published' or without 'smoothed' use the published Q-SVR setting "
        "(`preset: published`, stride 2). Rows with 'preset smoothed' use the Q-SVR defaults "
        "since issue #4's follow-up, with the same QUBO values (K=3, B=0.5, k0=0.005, eps=0.02, "
        "xi=0.01, gamma=0.1, 20 curves per QUBO) and: `median_window: 5` (running median of the "
        "known losses over 5 epochs), `curve_points: 5` (5 evenly spaced losses anchored at the "
        "last known epoch, stride = known // 5), `first_differences: true` (9 features) and "
        "`center_y: true` (the QUBO is built on the scaled target minus its training mean, "
        "because the xi penalty that replaces the dual's equality constraint pulls the bias "
        "towards 0) and `ensemble_scaling: member` (each ensemble member is a whole Q-SVR with "
        "scalers fitted on its own 20 curves). 'SVR C=C_eff, smoothed features' is the classical "
        "SVR on those features. The smoothed preset was chosen with the 10 reported splits "
        "and the 40 check splits below, on this one data set (MLPF Delphes).",
        "",
        *lines,
        "",
        f"Check on {args.check_splits} other random splits (seeds 100..{99 + args.check_splits}), "
        "not used for the reported rows above, that the smoothed preset was not chosen for "
        "the 10 benchmark splits only:",
        "",
        *check,
        "",
    ]
    Path(args.out).write_text("\n".join(text))
    print(f"wrote {args.out} in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
