"""Events -> padded PyTorch batches with MLPF training targets.

Target transform as in the PyTorch MLPF (jpata/particleflow v2.x): pT and E are regressed as
log(target / element) ratios, eta, sin(phi), cos(phi) directly; elements without a particle get zeros
and are left out of the regression loss.  Events are padded per batch to the longest one; padding has
element type 0 (the mask).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .schema import (COL_COS, COL_E, COL_ETA, COL_PT, COL_SIN, COL_TYPE, N_FEATURES, T_CHARGE, T_CLS,
                     T_COS, T_E, T_ETA, T_PT, T_SIN)

REGRESSION_NAMES = ("pt", "eta", "sin_phi", "cos_phi", "energy")


@dataclass
class Batch:
    X: torch.Tensor  # [B, N, 17] raw element features (0 on padding)
    mask: torch.Tensor  # [B, N] bool, True on real elements
    cls: torch.Tensor  # [B, N] long, 0 = no particle
    charge: torch.Tensor  # [B, N] long, charge + 1 in {0, 1, 2}
    reg: torch.Tensor  # [B, N, 5] (log pT ratio, eta, sin phi, cos phi, log E ratio)
    ygen: torch.Tensor  # [B, N, 7] raw targets (for physics metrics)

    def to(self, device) -> "Batch":
        return Batch(*(t.to(device) for t in (self.X, self.mask, self.cls, self.charge, self.reg, self.ygen)))

    @property
    def n_events(self) -> int:
        return int(self.X.shape[0])


def regression_targets(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """[n, 5] training-space regression targets of one event."""
    has = Y[:, T_CLS] > 0
    out = np.zeros((len(X), 5), np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, 0] = np.where(has, np.log(np.maximum(Y[:, T_PT], 1e-6) / np.maximum(X[:, COL_PT], 1e-6)), 0.0)
        out[:, 4] = np.where(has, np.log(np.maximum(Y[:, T_E], 1e-6) / np.maximum(X[:, COL_E], 1e-6)), 0.0)
    out[:, 1] = np.where(has, Y[:, T_ETA], 0.0)
    out[:, 2] = np.where(has, Y[:, T_SIN], 0.0)
    out[:, 3] = np.where(has, Y[:, T_COS], 0.0)
    return out


def decode_regression(X: torch.Tensor, reg: torch.Tensor) -> dict[str, torch.Tensor]:
    """Training-space regression (predicted or true) -> physical pT, eta, phi, E per element."""
    pt = X[..., COL_PT] * torch.exp(reg[..., 0].clamp(max=10))
    e = X[..., COL_E] * torch.exp(reg[..., 4].clamp(max=10))
    phi = torch.atan2(reg[..., 2], reg[..., 3])
    return {"pt": pt, "eta": reg[..., 1], "phi": phi, "energy": e}


def collate(events: list[dict]) -> Batch:
    n = max(1, max(len(e["X"]) for e in events))
    B = len(events)
    X = np.zeros((B, n, N_FEATURES), np.float32)
    Y = np.zeros((B, n, 7), np.float32)
    R = np.zeros((B, n, 5), np.float32)
    for i, e in enumerate(events):
        k = len(e["X"])
        X[i, :k] = e["X"]
        Y[i, :k] = e["ygen"]
        R[i, :k] = regression_targets(e["X"], e["ygen"])
    Xt = torch.from_numpy(X)
    Yt = torch.from_numpy(Y)
    return Batch(X=Xt, mask=Xt[..., COL_TYPE] != 0, cls=Yt[..., T_CLS].long(),
                 charge=(Yt[..., T_CHARGE].round().clamp(-1, 1) + 1).long(), reg=torch.from_numpy(R), ygen=Yt)


def batch_groups(sizes, batch_size: int, shuffle: bool = False, seed: int = 0, n_batches: int | None = None,
                 window: int = 8) -> list[np.ndarray]:
    """Event indices of each batch.  Shuffled (by ``seed``): events are sorted by size (``sizes[i]`` =
    elements of event i) inside windows of ``window`` batches (0 = the whole epoch), which cuts padding,
    then the batches are shuffled.  Not shuffled: file order.  ``n_batches`` truncates the list
    (data-parallel workers must all run the same number of steps)."""
    order = np.arange(len(sizes))
    if shuffle:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(sizes))
        win = batch_size * window if window > 0 else max(1, len(order))
        order = np.concatenate([sorted(order[i:i + win], key=lambda j: sizes[j])
                                for i in range(0, len(order), win)]) if len(order) else order
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        groups = [groups[i] for i in rng.permutation(len(groups))]
    if n_batches is not None:
        groups = groups[:n_batches]
    return groups


def batches(events: list[dict], batch_size: int, shuffle: bool = False, seed: int = 0,
            n_batches: int | None = None, window: int = 8) -> list[Batch]:
    """Collated batches of ``events`` in the order of ``batch_groups`` (same arguments)."""
    groups = batch_groups([len(e["X"]) for e in events], batch_size, shuffle, seed, n_batches, window)
    return [collate([events[j] for j in g]) for g in groups]


def element_pt_eta_phi_e(X: np.ndarray):
    """(pT, eta, phi, E) columns of raw elements [n, 17] (for the naive element-sum reference)."""
    return X[:, COL_PT], X[:, COL_ETA], np.arctan2(X[:, COL_SIN], X[:, COL_COS]), X[:, COL_E]


__all__ = ["Batch", "REGRESSION_NAMES", "batch_groups", "batches", "collate", "decode_regression", "regression_targets",
           "element_pt_eta_phi_e"]
