"""Learning-curve tables: hyperparameter columns, then ``loss_0 … loss_{R-1}``.

The simulator (:mod:`hpo.bench.simtime`) and the replay trainable (``trainables.replay``) both read
them from here; ``pick_row`` is the one rule that maps a configuration to a row.

The format of the published MLPF Delphes table (296 runs × 100 epochs) and of the tables our own
curve recorder writes.  Loading validates the file completely (ragged rows, non-numeric cells,
missing loss columns) and reports the first problem as a ``ConfigError``.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Collection

import numpy as np

from hpo.errors import ConfigError

_LOSS = re.compile(r"^loss_(\d+)$")


@dataclass(frozen=True)
class CurveTable:
    path: str
    hyperparameters: tuple[str, ...]
    params: np.ndarray  # (rows, n_hyperparameters)
    curves: np.ndarray  # (rows, max_epochs)

    @property
    def n_rows(self) -> int:
        return int(self.curves.shape[0])

    @property
    def max_epochs(self) -> int:
        return int(self.curves.shape[1])

    def row_config(self, row: int) -> dict[str, float]:
        return {h: float(v) for h, v in zip(self.hyperparameters, self.params[row])}

    def final_loss(self, row: int) -> float:
        return float(self.curves[row, -1])

    def best_row(self) -> int:
        return int(np.argmin(self.curves[:, -1]))

    def nearest_row(self, config: dict, exclude: Collection[int] = ()) -> int:
        """Row whose hyperparameters are closest to ``config`` (each column scaled to [0, 1],
        log-scaled when it is positive and spans more than two decades), skipping the rows in
        ``exclude`` (ties: the first row)."""
        missing = [h for h in self.hyperparameters if h not in config]
        if missing:
            raise KeyError(f"config lacks hyperparameters {missing} of table {self.path}")
        point = np.array([float(config[h]) for h in self.hyperparameters])
        lo, span, logged = _scaling(self)
        p = np.where(logged, np.log(np.clip(point, 1e-300, None)), point)
        grid = np.where(logged, np.log(np.clip(self.params, 1e-300, None)), self.params)
        d = (((grid - p) / span) ** 2).sum(axis=1)
        if exclude:
            if len(set(exclude)) >= self.n_rows:
                raise ValueError(f"every row of table {self.path} is excluded")
            d[np.fromiter(exclude, dtype=int)] = np.inf
        return int(np.argmin(d))


def pick_row(table: CurveTable, config: dict) -> int:
    """The row a configuration trains: its ``row`` key when given, else the nearest row."""
    if "row" in config:
        row = int(config["row"])
        if not 0 <= row < table.n_rows:
            raise ValueError(f"row {row} outside the table's {table.n_rows} rows")
        return row
    return table.nearest_row(config)


def regret_scale(table: CurveTable) -> tuple[float, float]:
    """(best final loss, median final − best): normalised regret is (final − best) / scale."""
    final = table.curves[:, -1]
    best = float(final.min())
    return best, float(np.median(final)) - best


def normalised_finals(table: CurveTable) -> np.ndarray:
    """Every row's normalised regret, (final loss − best) / :func:`regret_scale`."""
    best, scale = regret_scale(table)
    return (table.curves[:, -1] - best) / scale


def unit_params(table: CurveTable) -> np.ndarray:
    """Every row's hyperparameters in [0, 1], scaled as :meth:`CurveTable.nearest_row` measures
    distance (log scale for a positive column spanning more than two decades)."""
    lo, span, logged = _scaling(table)
    return (np.where(logged, np.log(np.clip(table.params, 1e-300, None)), table.params) - lo) / span


def _scaling(table: CurveTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = table.params.min(axis=0), table.params.max(axis=0)
    logged = (lo > 0) & (hi / np.where(lo > 0, lo, 1) > 100)
    llo = np.where(logged, np.log(np.where(lo > 0, lo, 1)), lo)
    lhi = np.where(logged, np.log(np.where(hi > 0, hi, 1)), hi)
    span = np.where(lhi > llo, lhi - llo, 1.0)
    return llo, span, logged


@lru_cache(maxsize=8)
def load_table(path: str) -> CurveTable:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"learning-curve table not found: {path}", "trainable.args.table")
    try:
        with p.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read learning-curve table {path}: {exc}", "trainable.args.table") from None
    if len(rows) < 2:
        raise ConfigError(f"learning-curve table {path} has no data rows", "trainable.args.table")
    header = [h.strip() for h in rows[0]]
    loss_cols = [i for i, h in enumerate(header) if _LOSS.match(h)]
    if not loss_cols:
        raise ConfigError(f"learning-curve table {path} has no loss_0 … loss_N columns", "trainable.args.table")
    epochs = [int(_LOSS.match(header[i]).group(1)) for i in loss_cols]
    if epochs != list(range(len(epochs))) or loss_cols != list(range(loss_cols[0], len(header))):
        raise ConfigError(f"learning-curve table {path}: loss columns must be loss_0 … loss_N, "
                          "consecutive and last", "trainable.args.table")
    n_h = loss_cols[0]
    data = np.empty((len(rows) - 1, len(header)))
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ConfigError(f"learning-curve table {path}: line {r} has {len(row)} fields, "
                              f"the header has {len(header)} (ragged rows)", "trainable.args.table")
        for c, cell in enumerate(row):
            try:
                v = float(cell)
            except ValueError:
                raise ConfigError(f"learning-curve table {path}: line {r}, column {header[c]!r}: "
                                  f"{cell!r} is not a number", "trainable.args.table") from None
            if c >= n_h and not math.isfinite(v):
                raise ConfigError(f"learning-curve table {path}: line {r}, column {header[c]!r} "
                                  "is not finite", "trainable.args.table")
            data[r - 2, c] = v
    return CurveTable(str(p), tuple(header[:n_h]), data[:, :n_h], data[:, n_h:])


def write_table(table: CurveTable, path: str | Path) -> str:
    """Write ``table`` in the format :func:`load_table` reads (floats as ``repr``, exact); returns the path."""
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*table.hyperparameters, *(f"loss_{e}" for e in range(table.max_epochs))])
        for p, c in zip(table.params, table.curves):
            w.writerow([repr(float(x)) for x in p] + [repr(float(x)) for x in c])
    return str(path)
