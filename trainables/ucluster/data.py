"""UCluster inputs from an HLS4ML-layout file: selection, features, labels and the train/val split."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from .features import MASS_WINDOW, mass_bin_labels, select_jets, ucluster_features
from .hls4ml import read_jets

log = logging.getLogger(__name__)


@dataclass
class Split:
    x: np.ndarray        # [N, C, 8] float32 UCluster features
    mass_bin: np.ndarray  # [N] int pre-training target
    truth: np.ndarray    # [N] int 0=W 1=Z 2=top (metric only)
    mass: np.ndarray     # [N] GeV

    def __len__(self) -> int:
        return len(self.truth)


MASS_TARGETS = ("mass", "softdrop")


def load_split(path: str, n_bins: int = 20, max_jets: int | None = None, target: str = "mass") -> Split:
    """All selected W/Z/top jets of ``path`` (e.g. an independent test sample).

    ``target``: the mass whose bins are the pre-training classes, ``mass`` (ungroomed, UCluster) or
    ``softdrop`` (``j_mass_mmdt``); the selection window is always on the ungroomed mass.
    """
    if target not in MASS_TARGETS:
        raise ValueError(f"mass target must be one of {MASS_TARGETS}, got {target!r}")
    jets = select_jets(read_jets(path, max_jets=max_jets), MASS_WINDOW)
    if len(jets) == 0:
        raise ValueError(f"{path}: no W/Z/top jets with {MASS_WINDOW[0]} < m < {MASS_WINDOW[1]} GeV")
    if target == "softdrop" and (jets.mass_sd is None or not np.all(np.isfinite(jets.mass_sd))):
        raise ValueError(f"{path}: no (finite) j_mass_mmdt column for the soft-drop mass target")
    m_target = jets.mass if target == "mass" else jets.mass_sd
    return Split(ucluster_features(jets.constituents), mass_bin_labels(m_target, n_bins), jets.label, jets.mass)


def load_splits(data_path: str, val_path: str | None = None, val_fraction: float = 0.2, n_bins: int = 20,
                max_jets: int | None = None, split_seed: int = 0, target: str = "mass") -> tuple[Split, Split]:
    """(train, val).  Without ``val_path`` a seeded random ``val_fraction`` of ``data_path`` is held out."""
    full = load_split(data_path, n_bins, max_jets, target)
    if val_path:
        return full, load_split(val_path, n_bins, max_jets, target)
    order = np.random.default_rng(split_seed).permutation(len(full))
    n_val = max(1, int(round(val_fraction * len(full))))
    take = lambda idx: Split(full.x[idx], full.mass_bin[idx], full.truth[idx], full.mass[idx])  # noqa: E731
    log.info("ucluster data %s: %d train / %d val jets", os.path.basename(data_path), len(full) - n_val, n_val)
    return take(np.sort(order[n_val:])), take(np.sort(order[:n_val]))
