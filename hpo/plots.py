"""The PNG plots of ``hpo.reporting.make_report`` (Matplotlib Agg canvas, no pyplot state).

Each function draws one figure from the results tables, records in ``report.counts`` what it drew
(so tests and users can check a plot against the data) and saves the PNG atomically into
``report.out_dir`` (a live run may be re-plotted while someone looks at the previous files).
"""
from __future__ import annotations

import math
import os
import numpy as np
import pandas as pd

from .reporting import OUTCOMES, Report, plot_group


def _figure(width: float = 7.5, height: float = 4.8):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(rep: Report, name: str, fig) -> None:
    path, tmp = rep.out_dir / f"{name}.png", rep.out_dir / f".{name}.tmp.png"
    fig.tight_layout()
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    rep.plots[name] = path


def _maybe_log(ax, values: np.ndarray) -> None:
    v = values[np.isfinite(values)]
    if len(v) and v.min() > 0 and v.max() / v.min() > 20:
        ax.set_yscale("log")


def _per_trial(curves: pd.DataFrame):
    for tid, c in curves.groupby("trial_id", sort=True):
        yield tid, c.drop_duplicates("epoch", keep="last").sort_values("epoch")


def curves_plot(rep: Report, curves: pd.DataFrame, trials: pd.DataFrame) -> None:
    from matplotlib.lines import Line2D

    outcome = dict(zip(trials["trial_id"], trials["outcome"].map(plot_group))) if not trials.empty else {}
    fig = _figure()
    ax = fig.add_subplot()
    drawn: dict[str, int] = {}
    for tid, c in _per_trial(curves):
        kind = outcome.get(tid, "running")
        ax.plot(c["epoch"], c[rep.metric], color=OUTCOMES[kind], lw=0.9, alpha=0.75)
        if kind.startswith("stopped"):
            ax.plot(c["epoch"].iloc[-1:], c[rep.metric].iloc[-1:], "x", color=OUTCOMES[kind], ms=4)
        drawn[kind] = drawn.get(kind, 0) + 1
    values = curves[rep.metric].to_numpy(dtype=float)
    _maybe_log(ax, values)
    finite = values[np.isfinite(values)]
    if len(finite) > 10:  # keep the first-epoch spikes from flattening the interesting part
        lo, hi = finite.min(), np.quantile(finite, 0.98)
        ax.set_ylim(lo * 0.97 if lo > 0 else lo - 0.03 * (hi - lo), hi * 1.03 if hi > 0 else hi)
    ax.legend(handles=[Line2D([], [], color=OUTCOMES[k], label=f"{k} ({n})") for k, n in drawn.items()],
              fontsize=8, loc="upper right")
    ax.set_xlabel("epoch")
    ax.set_ylabel(rep.metric)
    ax.set_title(f"learning curves of {sum(drawn.values())} trials{' (live)' if rep.live else ''}")
    rep.counts["curves"] = drawn
    _save(rep, "curves", fig)


def best_vs_epochs_plot(rep: Report, curves: pd.DataFrame, n_trials: int, max_epochs: int | None) -> None:
    """Rows of ``curves.parquet`` are in arrival order, so row i is the (i+1)-th epoch consumed."""
    v = curves[rep.metric].to_numpy(dtype=float)
    worst = math.inf if rep.mode == "min" else -math.inf
    v = np.where(np.isfinite(v), v, worst)
    best = np.minimum.accumulate(v) if rep.mode == "min" else np.maximum.accumulate(v)
    x = np.arange(1, len(v) + 1)
    ok = np.isfinite(best)
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    ax.step(x[ok], best[ok], where="post", color="tab:blue", label=f"best {rep.metric} so far")
    if max_epochs and n_trials:
        ax.axvline(n_trials * max_epochs, color="gray", ls="--",
                   label=f"{n_trials} trials x {max_epochs} epochs (no early stopping)")
    _maybe_log(ax, best[ok])
    ax.set_xlabel("epochs consumed (all trials)")
    ax.set_ylabel(f"best {rep.metric}")
    ax.legend(fontsize=8)
    ax.set_title(f"best {rep.metric} vs epochs consumed ({len(v)} epochs)")
    rep.counts["best_points"] = int(ok.sum())
    _save(rep, "best_vs_epochs", fig)


def predicted_vs_true_plot(rep: Report, preds: pd.DataFrame, curves: pd.DataFrame) -> None:
    """Predictions are in the metric's own units (``predictions.parquet``).  The true value is the
    trial's metric at the rung, if it got there."""
    last = curves.drop_duplicates(["trial_id", "epoch"], keep="last").set_index(["trial_id", "epoch"])[rep.metric]
    pred = preds["predicted"].to_numpy(dtype=float)
    true = np.array([last.get((t, int(r)), np.nan) for t, r in zip(preds["trial_id"], preds["rung"])], dtype=float)
    cont = preds["continued"].to_numpy(dtype=bool)
    ok_pred = np.isfinite(pred)
    pair = ok_pred & np.isfinite(true)
    rug = ok_pred & ~np.isfinite(true)
    fig = _figure(5.8, 5.2)
    ax = fig.add_subplot()
    groups = ((pair & cont, "tab:blue", "continued"), (pair & ~cont, "tab:red", "not continued, decided at the rung"))
    for mask, colour, label in groups:
        if mask.any():
            ax.scatter(pred[mask], true[mask], s=18, color=colour, label=f"{label} ({int(mask.sum())})")
    span = np.concatenate([pred[ok_pred], true[pair]])
    if len(span):
        lo, hi = float(span.min()), float(span.max())
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="gray", lw=0.8, label="predicted = true")
        if rug.any():
            ax.plot(pred[rug], np.full(rug.sum(), lo - pad), "|", ms=14, color="tab:red",
                    label=f"stopped, no true value ({int(rug.sum())})")
    title = f"{len(preds)} predictor decisions"
    if pair.sum() >= 2:
        err = pred[pair] - true[pair]
        ss = float(((true[pair] - true[pair].mean()) ** 2).sum())
        r2 = f", R² {1 - float((err ** 2).sum()) / ss:.2f}" if ss > 0 else ""
        title += f"\nMAE {np.abs(err).mean():.3g}{r2} on {int(pair.sum())} with a true value"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(f"predicted {rep.metric} at the rung")
    ax.set_ylabel(f"true {rep.metric} at the rung")
    ax.legend(fontsize=8)
    rep.counts["predictions"] = {"with_truth": int(pair.sum()), "without_truth": int(rug.sum())}
    _save(rep, "predicted_vs_true", fig)


def _finished_subset(rep: Report, trials: pd.DataFrame, max_epochs: int | None) -> tuple[pd.DataFrame, str]:
    ok = trials[trials[rep.metric].map(lambda v: v is not None and math.isfinite(float(v)))]
    full = ok[ok["epochs"] >= max_epochs] if max_epochs else ok.iloc[:0]
    if len(full) >= 3:
        return full, f"{len(full)} trials that reached {max_epochs} epochs"
    return ok, f"last value of {len(ok)} trials (early-stopped included)"


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


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


def importance_plot(rep: Report, trials: pd.DataFrame, hps: list[str], max_epochs: int | None) -> None:
    data, which = _finished_subset(rep, trials, max_epochs)
    if len(data) < 3:
        rep.notes.append(f"importance plot skipped: {len(data)} trials with a finite {rep.metric}")
        return
    scores = {h: importance(data[h], data[rep.metric]) for h in hps}
    names = sorted(scores, key=scores.get)
    fig = _figure(6.5, max(3.2, 1.2 + 0.4 * len(names)))
    ax = fig.add_subplot()
    ax.barh(names, [scores[n] for n in names], color="tab:purple")
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"|Spearman ρ| (numeric) or η (categorical) with {rep.metric}")
    ax.set_title(f"hyperparameter importance: {which}", fontsize=10)
    rep.counts["importance"] = scores
    _save(rep, "importance", fig)


def _axis_positions(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Values scaled to [0, 1] and the two tick labels (bottom, top) of one parallel axis."""
    if _numeric(s):
        v = s.to_numpy(dtype=float)
        lo, hi = np.nanmin(v), np.nanmax(v)
        if lo > 0 and hi / lo > 100:
            v, lo_t, hi_t = np.log10(v), np.log10(lo), np.log10(hi)
        else:
            lo_t, hi_t = lo, hi
        pos = (v - lo_t) / (hi_t - lo_t) if hi_t > lo_t else np.full(len(v), 0.5)
        return pos, [f"{lo:.3g}", f"{hi:.3g}"]
    cats = sorted(s.astype(str).unique())
    idx = s.astype(str).map({c: i for i, c in enumerate(cats)}).to_numpy(dtype=float)
    return (idx / (len(cats) - 1) if len(cats) > 1 else np.full(len(s), 0.5)), [cats[0], cats[-1]]


def parallel_plot(rep: Report, trials: pd.DataFrame, hps: list[str]) -> None:
    import matplotlib

    data = trials[trials[rep.metric].map(lambda v: v is not None and math.isfinite(float(v)))]
    if data.empty:
        rep.notes.append("parallel-coordinates plot skipped: no finite metric yet")
        return
    axes = hps + [rep.metric]
    cols = [_axis_positions(data[a]) for a in axes]
    pos = np.column_stack([c[0] for c in cols])
    m = data[rep.metric].to_numpy(dtype=float)
    score = (m - m.min()) / (m.max() - m.min()) if m.max() > m.min() else np.zeros(len(m))
    if rep.mode == "max":
        score = 1 - score  # 0 = best either way
    cmap = matplotlib.colormaps["viridis_r"]
    fig = _figure(max(5.0, 1.6 * len(axes) + 2), 4.5)
    ax = fig.add_subplot()
    x = np.arange(len(axes))
    for i in np.argsort(-score):  # best drawn last, on top
        ax.plot(x, pos[i], color=cmap(1 - score[i]), lw=0.9, alpha=0.8)
    best = int(np.argmin(score))
    ax.plot(x, pos[best], color="black", lw=2.2)
    for j, (_, ticks) in enumerate(cols):
        ax.axvline(j, color="gray", lw=0.6)
        ax.text(j, -0.06, ticks[0], ha="center", va="top", fontsize=7)
        ax.text(j, 1.06, ticks[1], ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, axes)
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    ax.set_title(f"parallel coordinates of {len(data)} trials (colour: {rep.metric}, dark = better; "
                 f"black: best trial {data['trial_id'].iloc[best]})", fontsize=10)
    rep.counts["parallel_lines"] = len(data)
    _save(rep, "parallel", fig)

