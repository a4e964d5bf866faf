"""GNN-LSH graph layer of MLPF (Pata et al., EPJC 81 (2021) 381; arXiv:2101.08578, and the CLIC study
arXiv:2309.06782).

Each layer learns an embedding ``z`` of the elements (the "learned distance"), hashes it by random
rotations (angular LSH: argmax over [zR, -zR]) into buckets, sorts elements by bucket and cuts the sorted
list into fixed-size bins.  Inside a bin the adjacency is a Gaussian kernel of the embedding distance,
and gated graph convolutions pass messages.  Cost and memory are O(N * bin_size).  Gradients reach the
distance network through the kernel, not through the (discrete) binning.

Ordering inside a bucket uses a content key (not the input position), so outputs are equivariant under
permutations of the elements.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .layers import activation


class GatedGraphConv(nn.Module):
    """x' = act(g * A (x Theta) + (1 - g) * x W_h) with gate g = sigmoid(x W_t + b_t)."""

    def __init__(self, width: int, act: str):
        super().__init__()
        self.theta = nn.Linear(width, width, bias=False)
        self.w_h = nn.Linear(width, width, bias=False)
        self.w_t = nn.Linear(width, width)
        self.act = activation(act)

    def forward(self, x: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hom = adj @ self.theta(x)
        gate = torch.sigmoid(self.w_t(x))
        return self.act(gate * hom + (1 - gate) * self.w_h(x)) * mask.unsqueeze(-1)


class GNNLSHLayer(nn.Module):
    def __init__(self, width: int, distance_dim: int = 32, bin_size: int = 32, max_num_bins: int = 200,
                 num_node_messages: int = 2, ffn_dist_hidden_dim: int = 64, ffn_dist_num_layers: int = 2,
                 dropout: float = 0.0, act: str = "elu", dist_mult: float = 0.1, layernorm: bool = True,
                 seed: int = 0):
        super().__init__()
        self.bin_size, self.max_num_bins, self.dist_mult = int(bin_size), int(max_num_bins), dist_mult
        self.norm = nn.LayerNorm(width) if layernorm else nn.Identity()
        dims = [width] + [ffn_dist_hidden_dim] * max(0, ffn_dist_num_layers - 1) + [distance_dim]
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), activation(act)]
        self.dist = nn.Sequential(*mods)  # ends with act, as in the reference (elu of the embedding)
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("codebook", torch.randn(distance_dim, max(1, self.max_num_bins // 2), generator=gen))
        self.messages = nn.ModuleList(GatedGraphConv(width, act) for _ in range(num_node_messages))
        self.dropout = nn.Dropout(dropout)

    def bin_order(self, z: torch.Tensor, mask: torch.Tensor, n_bins: int) -> torch.Tensor:
        """Permutation [B, N] that sorts elements by LSH bucket (padding last)."""
        n_hash = max(1, min(n_bins, self.max_num_bins) // 2)
        s = z @ self.codebook[:, :n_hash]
        s = torch.cat([s, -s], dim=-1)
        smax, bucket = s.max(dim=-1)
        key = bucket.double() + 0.5 * torch.sigmoid(smax.double())  # content tie-break inside a bucket
        key = key.masked_fill(~mask, 1e9)
        return torch.argsort(key, dim=1, stable=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        n_bins = max(1, math.ceil(N / self.bin_size))
        pad = n_bins * self.bin_size - N
        xp = nn.functional.pad(x, (0, 0, 0, pad))
        mp = nn.functional.pad(mask, (0, pad), value=False)
        h = self.norm(xp)
        z = self.dist(h)
        perm = self.bin_order(z.detach(), mp, n_bins)

        def binned(t):
            idx = perm.unsqueeze(-1).expand(-1, -1, t.shape[-1])
            return t.gather(1, idx).reshape(B, n_bins, self.bin_size, t.shape[-1])

        hb, zb = binned(h), binned(z)
        mb = mp.gather(1, perm).reshape(B, n_bins, self.bin_size).to(x.dtype)
        sq = (zb * zb).sum(-1)
        d2 = (sq.unsqueeze(-1) + sq.unsqueeze(-2) - 2 * zb @ zb.transpose(-1, -2)).clamp_min(1e-12)
        adj = torch.exp(-self.dist_mult * torch.sqrt(d2)).clamp(0, 1) * mb.unsqueeze(-1) * mb.unsqueeze(-2)
        adj = adj / adj.sum(-1, keepdim=True).clamp_min(1e-6)  # degree normalisation
        for conv in self.messages:
            hb = self.dropout(conv(hb, adj, mb))
        out = torch.zeros_like(xp).scatter(1, perm.unsqueeze(-1).expand(-1, -1, D), hb.reshape(B, -1, D))
        return (x + out[:, :N]) * mask.unsqueeze(-1)
