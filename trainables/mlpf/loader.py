"""Feeding the MLPF epoch loop: packed events, size-bucketed batches, pinned memory and prefetching.

Each event is packed once, when the trial loads its data, into one float32 array [n, 29] =
(17 element features | 7 targets | 5 regression targets), so collating a batch is one padded copy
per event and one host-to-device transfer; masks, classes and charges are derived on the device.
The values are exactly those of ``dataset.collate`` (the tests check it).

On a CUDA device the host batch is built in page-locked (pinned) memory by a background thread while
the current step runs, and copied with ``non_blocking=True`` (PyTorch's "pinned memory" recipe); on a
CPU the loader collates in the calling thread, as before, so single-threaded trials keep one core.
Validation batches are collated once per trial and kept on the device.
"""
from __future__ import annotations

import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Sequence

import numpy as np
import torch

from .dataset import Batch, batch_groups, regression_targets
from .schema import COL_TYPE, N_FEATURES, N_TARGETS, T_CHARGE, T_CLS

PACK_WIDTH = N_FEATURES + N_TARGETS + 5
PREFETCH_DEPTH = 3


def pack_events(events: Sequence[dict]) -> list[np.ndarray]:
    """[n, 29] float32 per event: X | ygen | regression targets."""
    return [np.concatenate([e["X"], e["ygen"], regression_targets(e["X"], e["ygen"])], axis=1)
            .astype(np.float32, copy=False) for e in events]


def collate_packed(packs: Sequence[np.ndarray], idx, pad_multiple: int = 1, pin: bool = False) -> torch.Tensor:
    """[B, n, 29] zero-padded host tensor of the events ``idx`` (n rounded up to ``pad_multiple``)."""
    n = max(1, max(len(packs[j]) for j in idx))
    n = int(math.ceil(n / pad_multiple) * pad_multiple)
    out = torch.zeros((len(idx), n, PACK_WIDTH), dtype=torch.float32, pin_memory=pin)
    a = out.numpy()
    for i, j in enumerate(idx):
        a[i, :len(packs[j])] = packs[j]
    return out


def unpack(t: torch.Tensor) -> Batch:
    """A packed batch (on any device) -> ``Batch``, identical to ``dataset.collate``'s."""
    X = t[..., :N_FEATURES].contiguous()
    Y = t[..., N_FEATURES:N_FEATURES + N_TARGETS].contiguous()
    R = t[..., N_FEATURES + N_TARGETS:].contiguous()
    return Batch(X=X, mask=X[..., COL_TYPE] != 0, cls=Y[..., T_CLS].long(),
                 charge=(Y[..., T_CHARGE].round().clamp(-1, 1) + 1).long(), reg=R, ygen=Y)


class BatchLoader:
    """Iterates ``Batch`` objects on ``device`` for the index groups ``groups`` of ``packs``."""

    def __init__(self, packs: Sequence[np.ndarray], groups: Sequence[np.ndarray], device, pad_multiple: int = 1,
                 prefetch: bool | None = None):
        self.packs, self.groups = packs, list(groups)
        self.device = torch.device(device)
        self.pad_multiple = max(1, int(pad_multiple))
        cuda = self.device.type == "cuda"
        self.prefetch = cuda if prefetch is None else bool(prefetch)
        self.pin = cuda and torch.cuda.is_available()

    def __len__(self) -> int:
        return len(self.groups)

    def _host(self, g) -> torch.Tensor:
        return collate_packed(self.packs, g, self.pad_multiple, pin=self.pin)

    def _to_device(self, t: torch.Tensor) -> Batch:
        return unpack(t.to(self.device, non_blocking=self.pin))

    def __iter__(self) -> Iterator[Batch]:
        if not self.prefetch:
            for g in self.groups:
                yield self._to_device(self._host(g))
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlpf-prefetch") as pool:
            pending = deque(pool.submit(self._host, g) for g in self.groups[:PREFETCH_DEPTH])
            nxt = len(pending)
            while pending:
                t = pending.popleft().result()
                if nxt < len(self.groups):
                    pending.append(pool.submit(self._host, self.groups[nxt]))
                    nxt += 1
                yield self._to_device(t)


def train_loader(packs, batch_size: int, *, seed: int, n_batches: int | None, window: int, device,
                 pad_multiple: int = 1, prefetch: bool | None = None) -> BatchLoader:
    """One epoch's shuffled, size-bucketed training batches (``dataset.batch_groups``)."""
    groups = batch_groups([len(p) for p in packs], batch_size, shuffle=True, seed=seed, n_batches=n_batches,
                          window=window)
    return BatchLoader(packs, groups, device, pad_multiple, prefetch)


def device_batches(packs, batch_size: int, device, pad_multiple: int = 1) -> list[Batch]:
    """Validation batches in file order, collated once and kept on ``device``."""
    groups = batch_groups([len(p) for p in packs], batch_size)
    return list(BatchLoader(packs, groups, device, pad_multiple, prefetch=False))
