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
from .session import EPOCH_KEY
from .trial import NONFINITE_KEY

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
        self._rows: dict[tuple[str, int], dict[str, Any]] = {}
        self.trials: dict[str, dict[str, Any]] = {}
        self.best: tuple[float, str] | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self._rows.values())

    def add(self, trial_id: str, result: dict[str, Any], config: dict[str, Any]) -> None:
        t = self.trials.setdefault(trial_id, {"config": {k: _plain(v) for k, v in config.items()},
                                              "epochs": 0, "nonfinite": False})
        epoch = int(result.get(EPOCH_KEY, t["epochs"] + 1))
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
            if math.isfinite(value):
                better = self.best is None or (value < self.best[0] if self.mode == "min" else value > self.best[0])
                if better:
                    self.best = (float(value), trial_id)

    def curves(self) -> pd.DataFrame:
        rows = self.rows
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["trial_id", "epoch"])

    def get_state(self) -> dict[str, Any]:
        return {"rows": self.rows, "trials": self.trials, "best": list(self.best) if self.best else None}

    def set_state(self, st: dict[str, Any]) -> None:
        self._rows = {(r["trial_id"], int(r["epoch"])): dict(r) for r in st["rows"]}
        self.trials = {k: dict(v) for k, v in st["trials"].items()}
        self.best = tuple(st["best"]) if st.get("best") else None


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


def trials_table(store: CurveStore, *, space_keys: list[str], max_epochs: int, statuses: dict[str, str],
                 errors: dict[str, str], reasons: dict[str, str], time_limited: bool = False) -> pd.DataFrame:
    """One row per trial with its outcome; ``time_limited``: the experiment's time limit ended it."""
    rows = []
    ended = "time limit" if time_limited else "experiment ended before it finished"
    for tid in sorted(set(store.trials) | set(statuses)):
        t = store.trials.get(tid, {"config": {}, "epochs": 0, "nonfinite": False})
        status = statuses.get(tid, "UNKNOWN")
        if t.get("nonfinite"):
            outcome, why = "stopped", f"non-finite {store.metric}"
        elif tid in errors:
            outcome, why = "failed", errors[tid]
        elif t["epochs"] >= max_epochs:
            outcome, why = "completed", "max_epochs"
        elif tid in reasons:
            outcome, why = "stopped", reasons[tid]
        elif t["epochs"] == 0:
            outcome, why = "not started", ended
        elif status == "TERMINATED" and not time_limited:
            outcome, why = "finished", "trainable returned"
        else:
            outcome, why = "stopped", ended
        row = {"trial_id": tid}
        row.update({k: t["config"].get(k) for k in space_keys})
        row.update({store.metric: t.get("last"), "epochs": t["epochs"], "status": outcome, "stop_reason": why})
        rows.append(row)
    return pd.DataFrame(rows)


def pick_best(trials: pd.DataFrame, metric: str, mode: str, max_epochs: int) -> pd.Series | None:
    """Best trial by its last reported value, among trials that reached ``max_epochs`` if any did."""
    if trials.empty:
        return None
    ok = trials[trials[metric].notna() & trials[metric].map(lambda v: math.isfinite(v) if v is not None else False)]
    if ok.empty:
        return None
    full = ok[ok["epochs"] >= max_epochs]
    pool = full if not full.empty else ok
    idx = pool[metric].idxmin() if mode == "min" else pool[metric].idxmax()
    return pool.loc[idx]


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


COMPLETED = ("completed", "finished")  # trials that ran to their end (max_epochs, or returned)


def check_not_fewer(old: Path, trials: pd.DataFrame) -> None:
    """Refuse to replace ``old`` with a table holding fewer completed trials (``FewerResultsError``);
    an unreadable old table is replaced, with a warning."""
    if not old.exists():
        return
    try:
        before = int(pd.read_parquet(old, columns=["status"])["status"].isin(COMPLETED).sum())
    except Exception as exc:  # noqa: BLE001 - a torn file from before atomic writes: nothing to keep
        log.warning("replacing unreadable %s (%s)", old, exc)
        return
    after = int(trials["status"].isin(COMPLETED).sum()) if "status" in trials else 0
    if after < before:
        raise FewerResultsError(f"{old} holds {before} completed trials, the new table only {after}; "
                                "kept the existing results and wrote nothing")


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
