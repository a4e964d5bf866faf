"""Element / target layout and the Parquet shard format of the MLPF data set.

The 17 element features follow the CLIC MLPF data set (Pata et al., "Improved particle-flow event
reconstruction with scalable neural networks for current and future particle detectors",
arXiv:2309.06782): type 1 = track, type 2 = calorimeter cluster.  Targets are one particle (or none)
per element: class index, charge, pT, eta, sin(phi), cos(phi), E.  The on-disk format is described in
``trainables/mlpf/README.md``; real CLIC data converted to it loads unchanged.
"""
from __future__ import annotations

import json
import os
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 1
N_FEATURES = 17
N_TARGETS = 7
TRACK, CLUSTER = 1, 2

TRACK_FEATURES = ["elemtype", "pt", "eta", "sin_phi", "cos_phi", "p", "chi2", "ndf", "dEdx", "dEdxError",
                  "radiusOfInnermostHit", "tanLambda", "D0", "omega", "Z0", "time", "unused"]
CLUSTER_FEATURES = ["elemtype", "et", "eta", "sin_phi", "cos_phi", "energy", "position_x", "position_y",
                    "position_z", "iTheta", "energy_ecal", "energy_hcal", "energy_other", "num_hits",
                    "sigma_x", "sigma_y", "sigma_z"]
TARGET_FEATURES = ["cls", "charge", "pt", "eta", "sin_phi", "cos_phi", "energy"]
# class index -> PDG id of the particle type (0 = no particle)
CLASS_PDG = [0, 211, 130, 22, 11, 13]
CLASS_NAMES = ["none", "charged_hadron", "neutral_hadron", "photon", "electron", "muon"]
N_CLASSES = len(CLASS_PDG)
PDG_TO_CLASS = {pdg: i for i, pdg in enumerate(CLASS_PDG)}

# column indices used across the package
COL_TYPE, COL_PT, COL_ETA, COL_SIN, COL_COS, COL_E = 0, 1, 2, 3, 4, 5
T_CLS, T_CHARGE, T_PT, T_ETA, T_SIN, T_COS, T_E = range(7)

ARROW_SCHEMA = pa.schema([
    pa.field("event_id", pa.int64()),
    pa.field("process", pa.string()),
    pa.field("X", pa.list_(pa.list_(pa.float32(), N_FEATURES))),
    pa.field("ygen", pa.list_(pa.list_(pa.float32(), N_TARGETS))),
    pa.field("genmet", pa.float32()),
])
REQUIRED_COLUMNS = ("X", "ygen")


class SchemaError(ValueError):
    """A shard that does not follow the documented layout."""


def write_shard(path: str, events: list[dict]) -> None:
    """Write events (dicts with X [n,17], ygen [n,7], event_id, process, genmet) to one Parquet file."""
    cols = {
        "event_id": [int(e["event_id"]) for e in events],
        "process": [str(e.get("process", "")) for e in events],
        "X": [np.asarray(e["X"], np.float32).tolist() for e in events],
        "ygen": [np.asarray(e["ygen"], np.float32).tolist() for e in events],
        "genmet": [float(e.get("genmet", 0.0)) for e in events],
    }
    table = pa.table(cols, schema=ARROW_SCHEMA)
    meta = {b"hpo_mlpf_schema": json.dumps({"version": SCHEMA_VERSION, "X": CLUSTER_FEATURES,
                                             "X_track": TRACK_FEATURES, "ygen": TARGET_FEATURES,
                                             "classes": CLASS_NAMES}).encode()}
    table = table.replace_schema_metadata(meta)
    tmp = path + ".tmp"
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _nested_to_arrays(col: pa.ChunkedArray, width: int) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for chunk in col.chunks:
        offsets = chunk.offsets.to_numpy()
        inner = chunk.flatten()  # fixed-size (or variable) lists of `width`
        if pa.types.is_fixed_size_list(inner.type):
            values = inner.flatten().to_numpy(zero_copy_only=False)
        else:
            lens = np.diff(inner.offsets.to_numpy())
            if len(lens) and not np.all(lens == width):
                raise SchemaError(f"inner lists must have {width} values")
            values = inner.flatten().to_numpy(zero_copy_only=False)
        values = values.astype(np.float32, copy=False).reshape(-1, width)
        base = offsets[0]
        for a, b in zip(offsets[:-1], offsets[1:]):
            out.append(values[a - base:b - base])
    return out


def read_shard(path: str) -> list[dict]:
    """Read one shard into a list of events {X, ygen, event_id, process, genmet}; validates the layout."""
    table = pq.read_table(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise SchemaError(f"{path}: missing column(s) {missing}; see trainables/mlpf/README.md")
    xs = _nested_to_arrays(table.column("X"), N_FEATURES)
    ys = _nested_to_arrays(table.column("ygen"), N_TARGETS)
    n = table.num_rows
    ids = table.column("event_id").to_pylist() if "event_id" in table.column_names else list(range(n))
    procs = table.column("process").to_pylist() if "process" in table.column_names else [""] * n
    met = table.column("genmet").to_pylist() if "genmet" in table.column_names else [0.0] * n
    events = []
    for i in range(n):
        if len(xs[i]) != len(ys[i]):
            raise SchemaError(f"{path}: event {i} has {len(xs[i])} elements but {len(ys[i])} targets")
        if len(xs[i]) and not np.isin(xs[i][:, COL_TYPE], (TRACK, CLUSTER)).all():
            raise SchemaError(f"{path}: event {i}: element type (X column 0) must be 1 (track) or 2 (cluster)")
        cls = ys[i][:, T_CLS]
        if len(cls) and (cls.min() < 0 or cls.max() >= N_CLASSES or not np.all(cls == np.round(cls))):
            raise SchemaError(f"{path}: event {i}: ygen class (column 0) must be an integer index 0..5")
        events.append({"X": xs[i], "ygen": ys[i], "event_id": ids[i], "process": procs[i],
                       "genmet": met[i]})
    return events


def list_shards(data_dir: str, split: str) -> list[str]:
    """Sorted Parquet shards of one split (``<data_dir>/<split>/*.parquet``)."""
    d = os.path.join(data_dir, split)
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".parquet"))


def read_shards(paths: Iterable[str]) -> list[dict]:
    events: list[dict] = []
    for p in paths:
        events.extend(read_shard(p))
    return events
