"""The MLPF network (Pata et al., EPJC 81 (2021) 381; CLIC study arXiv:2309.06782), PyTorch.

Per event: elements X [B, N, 17] -> per element
  binary [2]  particle / no particle,      cls [6]   particle class,       charge [3]  (-1, 0, +1),
  reg [5]     (log pT ratio, eta, sin phi, cos phi, log E ratio) in the training space of ``dataset``.
Two separate stacks of ``num_convs`` layers (identification and regression), each fed by its own
element encoder, as in the PyTorch MLPF; the layer type is ``gnn_lsh`` (``gnn_lsh.py``) or
``transformer`` (FAVOR+ kernel attention, ``kernel_attention.py``).  Both cost O(N) in the number of
elements.  Heads for eta / sin phi / cos phi predict a correction added to the element's value.
"""
from __future__ import annotations

import torch
from torch import nn

from .gnn_lsh import GNNLSHLayer
from .kernel_attention import KernelEncoderLayer
from .layers import ElementEncoding, ffn
from .schema import COL_COS, COL_ETA, COL_SIN, N_CLASSES

MODEL_TYPES = ("gnn_lsh", "transformer")
MODEL_DEFAULTS = {
    "model": "gnn_lsh", "width": 64, "num_convs": 2, "activation": "elu", "dropout": 0.0,
    # gnn_lsh
    "bin_size": 32, "max_num_bins": 200, "distance_dim": 32, "num_node_messages": 2,
    "ffn_dist_hidden_dim": 64, "ffn_dist_num_layers": 2, "layernorm": True,
    # transformer
    "num_heads": 4, "num_random_features": 32,
}


class MLPF(nn.Module):
    def __init__(self, model: str = "gnn_lsh", width: int = 64, num_convs: int = 2, activation: str = "elu",
                 dropout: float = 0.0, bin_size: int = 32, max_num_bins: int = 200, distance_dim: int = 32,
                 num_node_messages: int = 2, ffn_dist_hidden_dim: int = 64, ffn_dist_num_layers: int = 2,
                 layernorm: bool = True, num_heads: int = 4, num_random_features: int = 32, seed: int = 0):
        super().__init__()
        if model not in MODEL_TYPES:
            raise ValueError(f"unknown model {model!r}; choose from {MODEL_TYPES}")
        self.encoding = ElementEncoding()
        n_in = ElementEncoding.n_out
        self.enc_id = ffn(n_in, width, width, activation, dropout)
        self.enc_reg = ffn(n_in, width, width, activation, dropout)

        def conv(k: int) -> nn.Module:
            if model == "gnn_lsh":
                return GNNLSHLayer(width, distance_dim, bin_size, max_num_bins, num_node_messages,
                                   ffn_dist_hidden_dim, ffn_dist_num_layers, dropout, activation,
                                   layernorm=bool(layernorm), seed=seed + k)
            return KernelEncoderLayer(width, num_heads, num_random_features, dropout, activation, seed=seed + k)

        self.conv_id = nn.ModuleList(conv(k) for k in range(num_convs))
        self.conv_reg = nn.ModuleList(conv(100 + k) for k in range(num_convs))
        d_id, d_reg = 2 * width, 2 * width + n_in
        self.head_binary = ffn(d_id, 2, width, activation, dropout)
        self.head_cls = ffn(d_id, N_CLASSES, width, activation, dropout)
        self.head_charge = ffn(d_id, 3, width, activation, dropout)
        self.head_reg = nn.ModuleList(ffn(d_reg, 1, width, activation, dropout) for _ in range(5))

    def forward(self, X: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        m = mask.unsqueeze(-1).to(X.dtype)
        f = self.encoding(X)
        e_id, e_reg = self.enc_id(f) * m, self.enc_reg(f) * m
        h, g = e_id, e_reg
        for layer in self.conv_id:
            h = layer(h, mask)
        for layer in self.conv_reg:
            g = layer(g, mask)
        hid = torch.cat([h, e_id], dim=-1)
        hreg = torch.cat([g, e_reg, f], dim=-1)
        reg = torch.cat([head(hreg) for head in self.head_reg], dim=-1)
        orig = torch.stack([torch.zeros_like(X[..., 0]), X[..., COL_ETA], X[..., COL_SIN], X[..., COL_COS],
                            torch.zeros_like(X[..., 0])], dim=-1)
        return {"binary": self.head_binary(hid) * m, "cls": self.head_cls(hid) * m,
                "charge": self.head_charge(hid) * m, "reg": (reg + orig) * m}


def build_model(config: dict) -> MLPF:
    """MLPF from a trial config (missing keys take ``MODEL_DEFAULTS``)."""
    kw = {k: config.get(k, v) for k, v in MODEL_DEFAULTS.items()}
    ints = ("width", "num_convs", "bin_size", "max_num_bins", "distance_dim", "num_node_messages",
            "ffn_dist_hidden_dim", "ffn_dist_num_layers", "num_heads", "num_random_features")
    for k in ints:
        kw[k] = int(round(float(kw[k])))
    kw["dropout"] = float(kw["dropout"])
    return MLPF(seed=int(config.get("seed", 0)), **kw)


def predict_particles(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Decode outputs: class = 0 unless binary says particle, then argmax over the particle classes."""
    is_particle = out["binary"].argmax(-1) == 1
    cls = out["cls"][..., 1:].argmax(-1) + 1
    return {"cls": torch.where(is_particle, cls, torch.zeros_like(cls)), "charge": out["charge"].argmax(-1) - 1}
