"""What an experiment leaves in ``STORAGE/NAME``: ``trials.parquet``, ``curves.parquet``,
``best.json`` and ``experiment.yaml`` (the resolved configuration), next to Ray Tune's own files.

``CurveRecorder`` is a Tune callback on the driver: it keeps every reported epoch of every trial
(pauses included) and flushes ``curves.parquet`` now and then, so reports and plots also work
while a run is live.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .atomic import atomic_write
from .errors import FewerResultsError
from .protocols import EPOCH_KEY, NONFINITE_KEY, Objective, Outcome, StopReason

log = logging.getLogger("hpo")
_SKIP = {"config", "date", "hostname", "node_ip", "pid", "trial_id", "experiment_id", "timestamp",
         "time_this_iter_s", "time_total_s", "time_since_restore", "iterations_since_restore",
         "training_iteration", "done", "checkpoint_dir_name", "should_checkpoint", "checkpoint_path"}


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class CurveStore:
    """Curves and per-trial summaries, independent of Ray (the service feeds it from a callback).

    One row per (trial, epoch): an epoch reported again (a trial re-run from an earlier checkpoint
    after a crash) replaces the earlier row, so curves never hold duplicates.
    """

    def __init__(self, metric: str, mode: str):
        self.metric, self.mode = metric, mode
        self.objective = Objective(metric, mode)
        self._rows: dict[tuple[str, int], dict[str, Any]] = {}
        self.trials: dict[str, dict[str, Any]] = {}

    @property
    def best(self) -> tuple[float, str] | None:
        """(value, trial) of the best trial by its last reported value: the same definition as the
        trials table and ``best.json`` use (not the best epoch of any curve)."""
        vals = [(t["last"], tid) for tid, t in self.trials.items()
                if t.get("last") is not None and math.isfinite(t["last"])]
        return min(vals, key=lambda vt: self.objective.loss(vt[0])) if vals else None

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows.values())

    def add(self, trial_id: str, result: dict[str, Any], config: dict[str, Any]) -> None:
        t = self.trials.setdefault(trial_id, {"config": {k: _plain(v) for k, v in config.items()},
                                              "epochs": 0, "nonfinite": False})
        epoch = int(result.get(EPOCH_KEY, t["epochs"] + 1))
        if epoch <= t["epochs"]:  # re-run from an earlier checkpoint: its later epochs are gone
            for e in range(epoch + 1, t["epochs"] + 1):
                self._rows.pop((trial_id, e), None)
            t["epochs"] = epoch
        row: dict[str, Any] = {"trial_id": trial_id, "epoch": epoch}
        for k, v in result.items():
            if _numeric(v) and k not in _SKIP and k != EPOCH_KEY:
                row["reported_epoch" if k == "epoch" else k] = float(v)
        self._rows[(trial_id, epoch)] = row
        t["epochs"] = max(t["epochs"], epoch)
        value = result.get(self.metric)
        if result.get(NONFINITE_KEY):
            t["nonfinite"] = True
        if _numeric(value):
            t["last"] = float(value)

    def value_at(self, trial_id: str, epoch: int) -> float | None:
        """The objective's finite value a trial reported at ``epoch``, or None."""
        v = self._rows.get((trial_id, int(epoch)), {}).get(self.metric)
        return v if v is not None and math.isfinite(v) else None

    def loss_curves(self) -> dict[str, list[float]]:
        """Each trial's objective as losses by epoch (NaN where no epoch was reported, +inf for a
        non-finite value): what a scheduler core holds, rebuilt on resume from this one record."""
        out: dict[str, list[float]] = {}
        for tid, t in self.trials.items():
            rows = [self._rows.get((tid, e)) for e in range(1, t["epochs"] + 1)]
            out[tid] = [math.nan if r is None or r.get(self.metric) is None else self.objective.loss(r[self.metric])
                        for r in rows]
        return out

    def curves(self) -> pd.DataFrame:
        rows = self.rows
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["trial_id", "epoch"])

    def get_state(self) -> dict[str, Any]:
        return {"rows": self.rows, "trials": self.trials}

    def set_state(self, st: dict[str, Any]) -> None:
        self._rows = {(r["trial_id"], int(r["epoch"])): dict(r) for r in st["rows"]}
        self.trials = {k: dict(v) for k, v in st["trials"].items()}


@dataclass
class ExperimentResult:
    path: str
    metric: str
    mode: str
    best_trial_id: str | None
    best_config: dict[str, Any] | None
    best_metric: float | None
    trials: pd.DataFrame
    curves: pd.DataFrame

    def __repr__(self) -> str:
        return (f"ExperimentResult(path={self.path!r}, best_metric={self.best_metric!r}, "
                f"best_config={self.best_config!r}, trials={len(self.trials)})")


def trial_outcome(*, epochs: int, max_epochs: int, nonfinite: bool, error: str | None, reason: StopReason | None,
                  tune_status: str, time_limited: bool) -> StopReason:
    """How one trial ended, from everything the driver knows about it (first match wins)."""
    if nonfinite:
        return StopReason(Outcome.NON_FINITE, epoch=epochs)
    if error is not None:
        return StopReason(Outcome.FAILED, epoch=epochs, detail=error)
    if epochs >= max_epochs:
        return StopReason(Outcome.COMPLETED, epoch=epochs)
    if reason is not None and reason.outcome is not Outcome.FAILED:
        return reason
    if time_limited:
        return StopReason(Outcome.TIME_LIMIT, epoch=epochs)
    if tune_status == "TERMINATED" and epochs > 0:
        return StopReason(Outcome.ENDED_EARLY, epoch=epochs)
    return StopReason(Outcome.UNFINISHED, epoch=epochs)


def trials_table(store: CurveStore, *, space_keys: list[str], max_epochs: int, statuses: dict[str, str],
                 errors: dict[str, str], reasons: dict[str, StopReason], time_limited: bool = False) -> pd.DataFrame:
    """One row per trial: hyperparameters, the last reported value, epochs, ``outcome`` (an
    ``hpo.protocols.Outcome`` value), ``stop_reason`` (the same in words, with its rung/epoch/
    prediction/error) and ``stop_rung``.  ``time_limited``: the experiment's time limit ended it."""
    rows = []
    for tid in sorted(set(store.trials) | set(statuses)):
        t = store.trials.get(tid, {"config": {}, "epochs": 0, "nonfinite": False})
        why = trial_outcome(epochs=t["epochs"], max_epochs=max_epochs, nonfinite=bool(t.get("nonfinite")),
                            error=errors.get(tid), reason=reasons.get(tid), tune_status=statuses.get(tid, ""),
                            time_limited=time_limited)
        row = {"trial_id": tid}
        row.update({k: t["config"].get(k) for k in space_keys})
        row.update({store.metric: t.get("last"), "epochs": t["epochs"], "outcome": why.outcome.value,
                    "stop_reason": str(why), "stop_rung": why.rung})
        rows.append(row)
    cols = ["trial_id", *space_keys, store.metric, "epochs", "outcome", "stop_reason", "stop_rung"]
    return pd.DataFrame(rows, columns=cols).astype({"stop_rung": "Int64"})


def pick_best(trials: pd.DataFrame, metric: str, mode: str, max_epochs: int) -> pd.Series | None:
    """Best trial by its last reported value, among trials that reached ``max_epochs`` if any did."""
    if trials.empty:
        return None
    ok = trials[trials[metric].notna() & trials[metric].map(lambda v: math.isfinite(v) if v is not None else False)]
    if ok.empty:
        return None
    full = ok[ok["epochs"] >= max_epochs]
    pool = full if not full.empty else ok
    return pool.loc[pool[metric].map(Objective(metric, mode).loss).idxmin()]


def write(path: Path, store: CurveStore, trials: pd.DataFrame, config: dict[str, Any],
          best: pd.Series | None, space_keys: list[str]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    check_not_fewer(path / "trials.parquet", trials)
    atomic_write(path / "trials.parquet", lambda p: trials.to_parquet(p, index=False))
    atomic_write(path / "curves.parquet", lambda p: store.curves().to_parquet(p, index=False))
    best_doc = None
    if best is not None:
        best_doc = {"trial_id": best["trial_id"], "metric": store.metric, "mode": store.mode,
                    "value": float(best[store.metric]), "epochs": int(best["epochs"]),
                    "config": {k: _plain(best[k]) for k in space_keys}}
    atomic_write(path / "best.json", json.dumps(best_doc, indent=2) + "\n")
    atomic_write(path / "experiment.yaml", yaml.safe_dump(config, sort_keys=False))


COMPLETED = (Outcome.COMPLETED.value, Outcome.ENDED_EARLY.value)  # trials that ran to their end


def check_not_fewer(old: Path, trials: pd.DataFrame) -> None:
    """Refuse to replace ``old`` with a table holding fewer completed trials (``FewerResultsError``);
    an unreadable old table is replaced, with a warning."""
    if not old.exists():
        return
    try:
        before = int(pd.read_parquet(old, columns=["outcome"])["outcome"].isin(COMPLETED).sum())
    except Exception as exc:  # noqa: BLE001 - a torn file from before atomic writes: nothing to keep
        log.warning("replacing unreadable %s (%s)", old, exc)
        return
    after = int(trials["outcome"].isin(COMPLETED).sum()) if "outcome" in trials else 0
    if after < before:
        raise FewerResultsError(f"{old} holds {before} completed trials, the new table only {after}; "
                                "kept the existing results and wrote nothing")


def check_keeps(trials: pd.DataFrame, record: dict[str, Any] | None) -> None:
    """Refuse (``FewerResultsError``) a resumed run's table that lost a trial of ``record`` (the
    ``hpo_state.json`` the resume started from), or has fewer epochs for one that had ended."""
    if not record:
        return
    epochs = dict(zip(trials["trial_id"], trials["epochs"])) if not trials.empty else {}
    ended = {t for t, s in record.get("statuses", {}).items() if s == "TERMINATED"}
    for tid, t in record.get("store", {}).get("trials", {}).items():
        if tid not in epochs:
            raise FewerResultsError(f"the resumed run lost trial {tid}, which hpo_state.json holds; kept the "
                                    "existing results and wrote nothing")
        if tid in ended and int(epochs[tid]) < int(t.get("epochs", 0)):
            raise FewerResultsError(f"the resumed run has {int(epochs[tid])} epochs of trial {tid}, hpo_state.json "
                                    f"{int(t['epochs'])}; kept the existing results and wrote nothing")


def flush_curves(path: Path, store: CurveStore) -> None:
    path.mkdir(parents=True, exist_ok=True)
    atomic_write(path / "curves.parquet", lambda p: store.curves().to_parquet(p, index=False))


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def load(path: str | os.PathLike) -> ExperimentResult:
    """Read a finished (or live) results directory back."""
    p = Path(path)
    cfg = yaml.safe_load((p / "experiment.yaml").read_text()) if (p / "experiment.yaml").exists() else {}
    best = json.loads((p / "best.json").read_text()) if (p / "best.json").exists() else None
    trials = pd.read_parquet(p / "trials.parquet") if (p / "trials.parquet").exists() else pd.DataFrame()
    curves = pd.read_parquet(p / "curves.parquet") if (p / "curves.parquet").exists() else pd.DataFrame()
    return ExperimentResult(str(p), cfg.get("metric", ""), cfg.get("mode", "min"),
                            best["trial_id"] if best else None, best["config"] if best else None,
                            best["value"] if best else None, trials, curves)


class Throttle:
    def __init__(self, seconds: float):
        self.seconds, self.last = seconds, 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.seconds:
            self.last = now
            return True
        return False
