"""The console lines a run prints: ``[hpo] ...`` messages and the periodic progress line."""
from __future__ import annotations

from typing import Iterable

from .results import CurveStore

_ORDER = ("RUNNING", "PAUSED", "PENDING", "TERMINATED", "ERROR")
_WORDS = {"RUNNING": "running", "PAUSED": "paused", "PENDING": "pending", "TERMINATED": "ended", "ERROR": "failed"}


def say(msg: str) -> None:
    print(f"[hpo] {msg}", flush=True)


def progress_line(statuses: Iterable[str], store: CurveStore, elapsed: float, total: int | None = None) -> str:
    """``mm:ss | trials: 3/20 done (2 running, 1 paused) | epochs 41 | best val_loss 0.5 (t3)``;
    best is the trial's last reported value, as in the final table."""
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    done = counts.get("TERMINATED", 0) + counts.get("ERROR", 0)
    live = ", ".join(f"{counts[s]} {_WORDS[s]}" for s in _ORDER[:3] if counts.get(s))
    failed = f", {counts['ERROR']} failed" if counts.get("ERROR") else ""
    of = f"/{total}" if total else ""
    trials = f"{done}{of} done{failed}" + (f" ({live})" if live else "")
    epochs = sum(t["epochs"] for t in store.trials.values())
    best = store.best
    best_text = f"best {store.metric} {best[0]:.6g} ({best[1]})" if best else "no result yet"
    return f"{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d} | trials: {trials} | epochs {epochs} | {best_text}"
