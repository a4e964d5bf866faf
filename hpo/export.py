"""``python -m hpo.export DIR``: write the best trial's MLPF model of a results directory as ONNX.

Reads ``DIR/best.json`` (the chosen trial and its hyperparameters), ``DIR/experiment.yaml`` (the
trainable and its fixed arguments) and the trial's newest checkpoint under ``DIR`` (Ray Tune's
``<trial dir>/checkpoint_NNNNNN/``, holding the object the trainable passed to ``hpo.report``: for
MLPF ``{"model": state_dict, "epoch": ..., "model_type": ...}``).  The ONNX file has dynamic batch
and element axes (see ``trainables/mlpf/onnx_export.py``), and the run's trial, metric and
hyperparameters in its metadata.  After writing, ONNX Runtime is run against PyTorch on a few
generated events and the largest difference is printed; a mismatch above ``--tolerance`` fails.

    python -m hpo.export hpo_results/mlpf_gnn            # -> hpo_results/mlpf_gnn/best_model.onnx
    python -m hpo.export DIR --out model.onnx --tolerance 1e-4

Needs the ``export`` extra (``pip install -e '.[export]'``: onnx, onnxscript, onnxruntime).
Exit status 2 with one line for a directory that cannot be exported.
"""
from __future__ import annotations

import argparse
import json
import pickle
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from .session import _STATE_FILE

MLPF_TRAINABLES = ("mlpf", "trainables.mlpf:train")
_CKPT = re.compile(r"^checkpoint_(\d+)$")


class ExportError(ValueError):
    """A results directory that cannot be exported (one line: what is missing or wrong)."""


def _read(directory: Path) -> tuple[dict, dict]:
    best_file, exp_file = directory / "best.json", directory / "experiment.yaml"
    for f in (best_file, exp_file):
        if not f.is_file():
            raise ExportError(f"{f}: missing (not a finished hpo results directory?)")
    best = json.loads(best_file.read_text())
    if not best:
        raise ExportError(f"{best_file}: no best trial (no trial reported a finite metric)")
    return best, yaml.safe_load(exp_file.read_text()) or {}


def trial_dir(directory: Path, trial_id: str) -> Path:
    """Ray Tune's folder of ``trial_id`` under the results directory (its name contains the id)."""
    found = [d for d in directory.iterdir() if d.is_dir() and re.search(rf"(^|_){re.escape(trial_id)}(_|$)", d.name)]
    if len(found) != 1:
        raise ExportError(f"{directory}: {'no' if not found else len(found)} trial folder(s) for trial {trial_id}")
    return found[0]


def latest_checkpoint(folder: Path) -> tuple[Path, Any]:
    """The newest ``checkpoint_NNNNNN`` of a trial folder and the object saved in it."""
    ckpts = sorted((int(m.group(1)), d) for d in folder.iterdir() if (m := _CKPT.match(d.name)) and d.is_dir())
    if not ckpts:
        raise ExportError(f"{folder}: no checkpoint_* folder (the trainable must pass checkpoint= to hpo.report)")
    path = ckpts[-1][1]
    state = path / _STATE_FILE
    if not state.is_file():
        raise ExportError(f"{path}: no {_STATE_FILE} (a directory checkpoint, not an MLPF state)")
    with state.open("rb") as fh:
        return path, pickle.load(fh)  # noqa: S301 - the user's own results directory


def load_best_mlpf(directory: str | Path):
    """(model in eval mode, trial config, info dict) of the best trial of an MLPF results directory."""
    from trainables.mlpf.args import with_defaults
    from trainables.mlpf.model import build_model

    d = Path(directory)
    best, exp = _read(d)
    trainable = (exp.get("trainable") or {}).get("name")
    if trainable not in MLPF_TRAINABLES:
        raise ExportError(f"{d / 'experiment.yaml'}: trainable {trainable!r}: export supports the MLPF trainable only")
    config = with_defaults({**((exp.get("trainable") or {}).get("args") or {}), **(best.get("config") or {})})
    ckpt_path, state = latest_checkpoint(trial_dir(d, best["trial_id"]))
    if not isinstance(state, dict) or "model" not in state:
        raise ExportError(f"{ckpt_path}: not an MLPF checkpoint (no 'model' state)")
    if state.get("model_type", config["model"]) != config["model"]:
        raise ExportError(f"{ckpt_path}: model_type {state.get('model_type')!r} differs from the config's "
                          f"{config['model']!r}")
    model = build_model(config)
    model.load_state_dict(state["model"])
    model.eval()
    epoch = int(state.get("epoch", -1)) + 1
    info = {"trial_id": best["trial_id"], "metric": best.get("metric"), "value": best.get("value"),
            "epochs": epoch, "checkpoint": str(ckpt_path), "model": config["model"],
            "hyperparameters": best.get("config") or {}}
    if best.get("epochs") is not None and epoch != int(best["epochs"]):
        print(f"[hpo] note: the newest checkpoint is from epoch {epoch}, best.json's value from epoch "
              f"{best['epochs']}", file=sys.stderr)
    return model, config, info


def export_best(directory: str | Path, out: str | Path | None = None,
                tolerance: float = 1e-4) -> tuple[Path, dict[str, float]]:
    """Export the best MLPF trial of ``directory``; returns (ONNX path, max |ORT - torch| per output)."""
    from trainables.mlpf.onnx_export import compare_with_torch, example_events, export_onnx

    model, _, info = load_best_mlpf(directory)
    path = Path(out) if out else Path(directory) / "best_model.onnx"
    export_onnx(model, path, metadata={"hpo_" + k: v for k, v in info.items()})
    diffs: dict[str, float] = {}
    for i, n in enumerate((37, 150)):  # element counts unlike the export example's (64)
        X = example_events(3, n, seed=100 + i, padded_from=n // 2)
        for k, v in compare_with_torch(model, path, X).items():
            diffs[k] = max(diffs.get(k, 0.0), v)
    worst = max(diffs.values())
    if worst > tolerance:
        raise ExportError(f"{path}: ONNX Runtime differs from PyTorch by {worst:.3g} (> {tolerance:g}) on "
                          "generated events")
    return path, diffs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hpo.export", description=__doc__.split("\n\n")[0])
    p.add_argument("directory", help="results directory (storage/name) of a finished MLPF experiment")
    p.add_argument("--out", default=None, help="ONNX file (default: DIR/best_model.onnx)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed |ONNX Runtime - PyTorch|")
    args = p.parse_args(argv)
    try:
        path, diffs = export_best(args.directory, args.out, args.tolerance)
    except (ExportError, RuntimeError, FileNotFoundError) as exc:
        print(f"hpo.export: {exc}", file=sys.stderr)
        return 2
    print(f"[hpo] wrote {path}: input X [batch, elements, 17] (zero rows = padding), outputs "
          f"binary/cls/charge/reg; ONNX Runtime vs PyTorch max |diff| {max(diffs.values()):.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
