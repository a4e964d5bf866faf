"""Small building blocks shared by the MLPF models (feed-forward nets, activations, input encoding)."""
from __future__ import annotations

import torch
from torch import nn

from .schema import COL_TYPE, N_FEATURES

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "relu6": nn.ReLU6, "leakyrelu": nn.LeakyReLU, "gelu": nn.GELU}


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}") from None


def ffn(n_in: int, n_out: int, width: int, act: str = "elu", dropout: float = 0.0) -> nn.Sequential:
    """Linear -> act -> LayerNorm -> Dropout -> Linear (the MLPF feed-forward block)."""
    return nn.Sequential(nn.Linear(n_in, width), activation(act), nn.LayerNorm(width), nn.Dropout(dropout),
                         nn.Linear(width, n_out))


class ElementEncoding(nn.Module):
    """Raw 17 features -> one-hot element type (track, cluster) + asinh of the 16 other columns.

    asinh compresses energies, positions and hit counts to O(1..10) without data-dependent statistics,
    so the same model works on generated and converted real data.  Padding (type 0) maps to zeros.
    """

    n_out = 2 + N_FEATURES - 1

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        t = X[..., COL_TYPE]
        onehot = torch.stack([(t == 1), (t == 2)], dim=-1).to(X.dtype)
        return torch.cat([onehot, torch.asinh(X[..., 1:])], dim=-1) * (t != 0).unsqueeze(-1).to(X.dtype)
