"""The PNG plots of ``hpo.reporting.make_report`` (Matplotlib Agg canvas, no pyplot state).

Each function draws one figure from the results tables, records in ``report.counts`` what it drew
(so tests and users can check a plot against the data) and saves the PNG atomically into
``report.out_dir`` (a live run may be re-plotted while someone looks at the previous files).  A plot
with nothing to show is not written; a note in the report says why.  Long runs get a logarithmic
epoch axis (``LOG_X_EPOCHS``), where early stops and rungs would otherwise crowd the left edge.
Hyperparameter plots (importance, parallel coordinates) live in ``hpo.plots_hparams``.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from .plots_hparams import FONT, importance, importance_plot, parallel_plot  # noqa: F401 (re-exported)
from .reporting import OUTCOMES, Report, plot_group

LOG_X_EPOCHS = 30  # curves: longest trial; best-vs-epochs: 100 epochs consumed


def _log_x(ax, longest: float, threshold: float) -> bool:
    """Logarithmic x axis (plain-number ticks) when ``longest`` reaches ``threshold``; else integer ticks."""
    if longest < threshold:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        return False
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    return True


def _figure(width: float = 7.5, height: float = 4.8):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(rep: Report, name: str, fig) -> None:
    from matplotlib.text import Text

    path, tmp = rep.out_dir / f"{name}.png", rep.out_dir / f".{name}.tmp.png"
    fig.tight_layout()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    rep.counts.setdefault("min_fontsize", {})[name] = min(sizes) if sizes else None
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

    values = curves[rep.metric].to_numpy(dtype=float) if rep.metric in curves else np.array([])
    if not np.isfinite(values).any():
        rep.notes.append(f"learning-curve plot skipped: no finite {rep.metric} reported yet")
        return
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
    _maybe_log(ax, values)
    finite = values[np.isfinite(values)]
    if len(finite) > 10:  # keep the first-epoch spikes from flattening the interesting part
        lo, hi = finite.min(), np.quantile(finite, 0.98)
        ax.set_ylim(lo * 0.97 if lo > 0 else lo - 0.03 * (hi - lo), hi * 1.03 if hi > 0 else hi)
    logx = _log_x(ax, float(curves["epoch"].max()), LOG_X_EPOCHS)
    ax.legend(handles=[Line2D([], [], color=OUTCOMES[k], label=f"{k} ({n})") for k, n in drawn.items()],
              fontsize=FONT, loc="upper right")
    ax.tick_params(labelsize=FONT)
    ax.set_xlabel("epoch" + (" (log scale)" if logx else ""), fontsize=FONT + 1)
    ax.set_ylabel(rep.metric, fontsize=FONT + 1)
    ax.set_title(f"learning curves of {sum(drawn.values())} trials{' (live)' if rep.live else ''}", fontsize=FONT + 2)
    rep.counts["curves"] = drawn
    rep.counts["curves_log_x"] = logx
    _save(rep, "curves", fig)


def best_vs_epochs_plot(rep: Report, curves: pd.DataFrame, n_trials: int, max_epochs: int | None) -> None:
    """Rows of ``curves.parquet`` are in arrival order, so row i is the (i+1)-th epoch consumed."""
    v = curves[rep.metric].to_numpy(dtype=float) if rep.metric in curves else np.array([])
    worst = math.inf if rep.mode == "min" else -math.inf
    v = np.where(np.isfinite(v), v, worst)
    best = np.minimum.accumulate(v) if rep.mode == "min" else np.maximum.accumulate(v)
    x = np.arange(1, len(v) + 1)
    ok = np.isfinite(best)
    if not ok.any():
        rep.notes.append(f"best-vs-epochs plot skipped: no finite {rep.metric} reported yet")
        return
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    ax.step(x[ok], best[ok], where="post", color="tab:blue", label=f"best {rep.metric} so far")
    if max_epochs and n_trials:
        ax.axvline(n_trials * max_epochs, color="gray", ls="--",
                   label=f"{n_trials} trials x {max_epochs} epochs (no early stopping)")
    _maybe_log(ax, best[ok])
    logx = _log_x(ax, float(len(v)), 100)
    ax.tick_params(labelsize=FONT)
    ax.set_xlabel("epochs consumed (all trials)" + (", log scale" if logx else ""), fontsize=FONT + 1)
    ax.set_ylabel(f"best {rep.metric}", fontsize=FONT + 1)
    ax.legend(fontsize=FONT)
    ax.set_title(f"best {rep.metric} vs epochs consumed ({len(v)} epochs)", fontsize=FONT + 2)
    rep.counts["best_points"] = int(ok.sum())
    rep.counts["best_log_x"] = logx
    _save(rep, "best_vs_epochs", fig)


def predicted_vs_true_plot(rep: Report, preds: pd.DataFrame, curves: pd.DataFrame) -> None:
    """Predictions are in the metric's own units (``predictions.parquet``).  The true value is the
    trial's metric at the predicted epoch (``target``), if it got there.  No decisions: no plot (a note says so)."""
    if preds.empty or not np.isfinite(preds["predicted"].to_numpy(dtype=float)).any():
        rep.notes.append("predicted-vs-true plot skipped: the predictor made no decisions in this run")
        return
    last = curves.drop_duplicates(["trial_id", "epoch"], keep="last").set_index(["trial_id", "epoch"])[rep.metric]
    pred = preds["predicted"].to_numpy(dtype=float)
    target = preds["target"] if "target" in preds else preds["rung"]  # files written before "target" existed
    true = np.array([last.get((t, int(r)), np.nan) for t, r in zip(preds["trial_id"], target)], dtype=float)
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
    quality = f"predictor: {len(preds)} decisions, {int(pair.sum())} with a true value"
    if pair.sum() >= 2:
        err = pred[pair] - true[pair]
        ss = float(((true[pair] - true[pair].mean()) ** 2).sum())
        r2 = 1 - float((err ** 2).sum()) / ss if ss > 0 else None
        r2_text = f", R² {r2:.2f}" if r2 is not None else ""
        title += f"\nMAE {np.abs(err).mean():.3g}{r2_text} on {int(pair.sum())} with a true value"
        quality += f": MAE {np.abs(err).mean():.3g}{r2_text}"
        if r2 is not None and r2 < 0.5:
            quality += " (weak: its stop decisions are little better than guesses at this rung)"
        rep.counts["predictions_r2"] = r2
    rep.notes.append(quality)
    ax.set_title(title, fontsize=FONT + 1)
    ax.tick_params(labelsize=FONT)
    ax.set_xlabel(f"predicted {rep.metric} at the rung", fontsize=FONT + 1)
    ax.set_ylabel(f"true {rep.metric} at the rung", fontsize=FONT + 1)
    ax.legend(fontsize=FONT)
    rep.counts["predictions"] = {"with_truth": int(pair.sum()), "without_truth": int(rug.sum())}
    _save(rep, "predicted_vs_true", fig)
