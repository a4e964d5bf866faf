"""Hyperparameter plots of the report: importance and parallel coordinates (see ``hpo.plots``).

Importance is a rank statistic between each hyperparameter and the metric: |Spearman ρ| for a
numeric hyperparameter, the correlation ratio η for a categorical one (Fisher's η; both in [0, 1]).
Few trials make both noisy: an irrelevant hyperparameter shows |ρ| up to about 2/sqrt(n - 1) (0.67
with 10 trials, 0.41 with 25).  So the plot needs ``MIN_IMPORTANCE_TRIALS`` trials measured at one
common epoch (the latest epoch that many trials reached: early-stopped trials are compared at the
same point of training, not at their last epoch), and it draws, per hyperparameter, the 95th
percentile of the statistic over random shuffles of the metric (a permutation test, Good,
*Permutation Tests*, Springer 2000): bars below that mark are indistinguishable from noise.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

MIN_IMPORTANCE_TRIALS = 10
SHUFFLES = 200
FONT = 9  # smallest text size (pt) on these figures


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def importance(values: pd.Series, metric: pd.Series) -> float:
    """|Spearman ρ| for a numeric hyperparameter, correlation ratio η for a categorical one."""
    y = metric.to_numpy(dtype=float)
    if _numeric(values):
        a, b = values.rank().to_numpy(dtype=float), metric.rank().to_numpy(dtype=float)
        if a.std() == 0 or b.std() == 0:
            return 0.0
        return float(abs(np.corrcoef(a, b)[0, 1]))
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    groups = pd.Series(y).groupby(values.astype(str).to_numpy())
    between = float(sum(len(g) * (g.mean() - y.mean()) ** 2 for _, g in groups))
    return math.sqrt(between / total)


def noise_level(values: pd.Series, metric: pd.Series, seed: int = 0) -> float:
    """95th percentile of ``importance`` with the metric shuffled (no relation by construction)."""
    rng = np.random.default_rng(seed)
    m = metric.to_numpy(dtype=float)
    sims = [importance(values, pd.Series(rng.permutation(m), index=metric.index)) for _ in range(SHUFFLES)]
    return float(np.quantile(sims, 0.95))


def common_epoch_values(curves: pd.DataFrame, trials: pd.DataFrame, metric: str, hps: list[str]):
    """(frame of hps + metric at epoch E, E) for the latest epoch E reached by at least
    ``MIN_IMPORTANCE_TRIALS`` trials with a finite metric; (None, n) when none is (n: most trials at any epoch)."""
    c = curves[["trial_id", "epoch", metric]].drop_duplicates(["trial_id", "epoch"], keep="last")
    c = c[c[metric].map(_finite)]
    c = c[c["trial_id"].isin(trials["trial_id"])]
    counts = c.groupby("epoch")["trial_id"].nunique()
    enough = counts[counts >= MIN_IMPORTANCE_TRIALS]
    if enough.empty:
        return None, int(counts.max()) if len(counts) else 0
    epoch = int(enough.index.max())
    at = c[c["epoch"] == epoch][["trial_id", metric]]
    data = trials[["trial_id", *hps]].merge(at, on="trial_id")
    return data, epoch


def importance_plot(rep, curves: pd.DataFrame, trials: pd.DataFrame, hps: list[str]) -> None:
    from .plots import _figure, _save

    data, epoch = common_epoch_values(curves, trials, rep.metric, hps)
    if data is None:
        chance = min(1.0, 2 / math.sqrt(max(epoch - 1, 1)))
        rep.notes.append(f"importance plot skipped: it needs {MIN_IMPORTANCE_TRIALS} trials measured at a common "
                         f"epoch, the most at any epoch is {epoch} (with {epoch}, an irrelevant hyperparameter "
                         f"reaches |ρ| {chance:.2f} by chance)")
        return
    scores = {h: importance(data[h], data[rep.metric]) for h in hps}
    noise = {h: noise_level(data[h], data[rep.metric]) for h in hps}
    names = sorted(scores, key=scores.get)
    fig = _figure(7.0, max(3.4, 1.6 + 0.42 * len(names)))
    ax = fig.add_subplot()
    colours = ["tab:purple" if scores[n] > noise[n] else "lightgray" for n in names]
    ax.barh(names, [scores[n] for n in names], color=colours)
    ax.plot([noise[n] for n in names], names, "|", color="black", ms=16, mew=2)
    ax.set_xlim(0, 1)
    ax.tick_params(labelsize=FONT + 1)
    ax.set_xlabel(f"|Spearman ρ| (numeric) or η (categorical) with {rep.metric}", fontsize=FONT + 1)
    ax.set_title(f"hyperparameter importance: {rep.metric} at epoch {epoch}, {len(data)} trials\n"
                 "black mark: 95 % of the values with the metric shuffled; grey bar: below it (chance)",
                 fontsize=FONT + 1)
    rep.counts["importance"] = scores
    rep.counts["importance_noise"] = noise
    rep.counts["importance_epoch"] = epoch
    _save(rep, "importance", fig)


def _axis(s: pd.Series, top: float | None = None) -> tuple[np.ndarray, list[tuple[float, str]], bool]:
    """Positions in [0, 1], (position, label) ticks, and whether the axis is logarithmic (positive values
    over more than two decades, most of them in the lowest tenth of a linear axis).  A numeric axis with
    at most 8 distinct values gets a tick at each (log-spaced when they span a factor 8 or more, e.g.
    powers of two); ``top`` clips the axis (values above it sit on the top line, "≥")."""
    if _numeric(s):
        v = s.to_numpy(dtype=float)
        if top is not None:
            v = np.minimum(v, top)
        lo, hi = np.nanmin(v), np.nanmax(v)
        distinct = np.unique(v[np.isfinite(v)])
        few = top is None and len(distinct) <= 8
        crowded = hi > lo and np.mean((v - lo) / (hi - lo) < 0.1) > 0.5  # log-sampled values bunch at the bottom
        log = bool(lo > 0 and ((hi / lo > 100 and crowded) or (few and len(distinct) > 2 and hi / lo >= 8)))
        f = np.log10 if log else (lambda a: a)
        flo, fhi = f(lo), f(hi)
        pos = (f(v) - flo) / (fhi - flo) if fhi > flo else np.full(len(v), 0.5)
        if hi <= lo:
            values = [lo]
        elif few:
            values = list(distinct)
        else:
            values = [lo, 10 ** ((flo + fhi) / 2) if log else (lo + hi) / 2, hi]
        ticks = [((f(t) - flo) / (fhi - flo) if fhi > flo else 0.5, f"{t:.3g}") for t in values]
        if top is not None:
            ticks[-1] = (ticks[-1][0], f"≥ {top:.3g}")
        return pos, ticks, log
    cats = sorted(s.astype(str).unique())
    span = max(len(cats) - 1, 1)
    idx = s.astype(str).map({c: i for i, c in enumerate(cats)}).to_numpy(dtype=float)
    pos = idx / span if len(cats) > 1 else np.full(len(s), 0.5)
    step = max(1, math.ceil(len(cats) / 8))  # at most ~8 labels per axis
    ticks = [(i / span if len(cats) > 1 else 0.5, c) for i, c in enumerate(cats) if i % step == 0]
    return pos, ticks, False


def parallel_plot(rep, trials: pd.DataFrame, hps: list[str]) -> None:
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    from .plots import _figure, _save

    data = trials[trials[rep.metric].map(_finite)]
    if len(data) < 2:
        rep.notes.append(f"parallel-coordinates plot skipped: {len(data)} trial(s) with a finite {rep.metric}")
        return
    axes = hps + [rep.metric]
    m = data[rep.metric].to_numpy(dtype=float)
    # a few diverged or barely-trained trials must not squash everyone else into one colour
    lo_q, hi_q = np.quantile(m, [0.05, 0.95])
    clip_hi = rep.mode == "min" and len(m) >= 20 and m.max() - hi_q > hi_q - m.min()
    clip_lo = rep.mode == "max" and len(m) >= 20 and lo_q - m.min() > m.max() - lo_q
    cols = [_axis(data[a]) for a in hps] + [_axis(data[rep.metric], top=hi_q if clip_hi else None)]
    if clip_lo:
        m_axis = data[rep.metric].clip(lower=lo_q)
        cols[-1] = _axis(m_axis)
        cols[-1][1][0] = (0.0, f"≤ {lo_q:.3g}")
    pos = np.column_stack([c[0] for c in cols])
    log_metric = cols[-1][2]
    vmin, vmax = (lo_q if clip_lo else m.min()), (hi_q if clip_hi else m.max())
    norm = (LogNorm if log_metric else Normalize)(vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1, clip=True)
    cmap = matplotlib.colormaps["viridis" if rep.mode == "min" else "viridis_r"]  # dark = better
    fig = _figure(min(11.0, max(6.5, 1.15 * len(axes) + 3.0)), 5.2)
    ax = fig.add_subplot()
    x = np.arange(len(axes))
    order = np.argsort(-m if rep.mode == "min" else m)  # best drawn last, on top
    alpha = 0.8 if len(data) < 50 else 0.45
    for i in order:
        ax.plot(x, pos[i], color=cmap(norm(m[i])), lw=1.0, alpha=alpha)
    best = int(order[-1])
    ax.plot(x, pos[best], color="black", lw=2.4, label=f"best trial {data['trial_id'].iloc[best]}")
    for j, (_, ticks, log) in enumerate(cols):
        ax.axvline(j, color="gray", lw=0.7)
        for p, label in ticks:
            ax.text(j - 0.04, p, label, ha="right", va="center", fontsize=FONT,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})
        if log:
            ax.text(j, 1.05, "log", ha="center", va="bottom", fontsize=FONT, color="dimgray")
    rotate = len(axes) > 6 or max(len(a) for a in axes) > 12
    ax.set_xticks(x, axes, fontsize=FONT + 1, rotation=25 if rotate else 0, ha="right" if rotate else "center")
    ax.set_yticks([])
    ax.set_xlim(-0.6, len(axes) - 0.8)
    ax.set_ylim(-0.06, 1.12)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02, fraction=0.04,
                       extend="max" if clip_hi else "min" if clip_lo else "neither")
    bar.set_label(f"{rep.metric} (dark = better)", fontsize=FONT + 1)
    bar.ax.tick_params(labelsize=FONT)
    ax.legend(fontsize=FONT, loc="upper left", bbox_to_anchor=(0.0, 1.13), frameon=False)
    ax.set_title(f"parallel coordinates of {len(data)} trials\n{rep.metric}: last reported value "
                 "(early-stopped trials at their last epoch)", fontsize=FONT + 1, loc="right")
    rep.counts["parallel_lines"] = len(data)
    rep.counts["parallel_ticks"] = {a: [t for _, t in c[1]] for a, c in zip(axes, cols)}
    rep.counts["parallel_colorbar"] = bar.ax.get_ylabel()
    _save(rep, "parallel", fig)
