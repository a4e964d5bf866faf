"""Replay trainable: "trains" a configuration by reading the next epoch of a learning-curve table.

A trial's configuration is either a table ``row`` (uniform sampling of the table's rows) or the
table's hyperparameters, mapped to the nearest row (for model-based searchers).  Every epoch is
reported with a checkpoint, so a paused trial resumes where it stopped and resumed epochs are
never counted twice.  ``seconds_per_epoch`` adds a sleep to mimic training time.  ``table`` is a
file path or a table name resolved by ``hpo.datasets`` (``mlpf_delphes``: the packaged published table).
"""
from __future__ import annotations

import time
from typing import Any

import hpo
from hpo.datasets import DataNotFoundError, resolve_table
from hpo.errors import ConfigError

from hpo.bench.table import load_table, pick_row

DEFAULT_METRIC = "loss"


def validate_args(args: dict[str, Any], max_epochs: int | None = None) -> dict[str, Any]:
    if "table" not in args:
        raise ConfigError("the replay trainable needs a learning-curve table path", "trainable.args.table")
    unknown = sorted(set(args) - {"table", "seconds_per_epoch"})
    if unknown:
        raise ConfigError("unknown argument (replay takes table, seconds_per_epoch)", f"trainable.args.{unknown[0]}")
    try:
        path = resolve_table(str(args["table"]))
    except DataNotFoundError as exc:
        raise ConfigError(str(exc), "trainable.args.table") from None
    args = {**args, "table": str(path)}
    table = load_table(args["table"])
    sec = args.get("seconds_per_epoch", 0)
    if isinstance(sec, bool) or not isinstance(sec, (int, float)) or sec < 0:
        raise ConfigError(f"must be a number >= 0, got {sec!r}", "trainable.args.seconds_per_epoch")
    if max_epochs is not None and max_epochs > table.max_epochs:
        raise ConfigError(f"max_epochs {max_epochs} exceeds the {table.max_epochs} epochs of {table.path}",
                          "budget.max_epochs")
    return args


def train(config: dict[str, Any]) -> None:
    table = load_table(str(resolve_table(str(config["table"]))))
    row = pick_row(table, config)
    sleep = float(config.get("seconds_per_epoch", 0))
    state = hpo.get_checkpoint() or {"epoch": 0}
    last = min(int(config["max_epochs"]), table.max_epochs)
    for epoch in range(int(state["epoch"]), last):
        if sleep:
            time.sleep(sleep)
        hpo.report(loss=float(table.curves[row, epoch]), row=row, epoch=epoch + 1,
                   checkpoint={"epoch": epoch + 1, "row": row})
