"""Kernel (linear) self-attention with FAVOR+ positive orthogonal random features.

Performer: Choromanski et al., "Rethinking Attention with Performers", arXiv:2009.14794; used as the
"kernel-based transformer" of the CLIC MLPF study (arXiv:2309.06782).  softmax(q.k) is approximated by
phi(q).phi(k) with phi(x) = exp(W x - |x|^2 / 2) / sqrt(m), W = m orthogonal Gaussian directions with
chi-distributed norms.  Attention = phi(Q) [phi(K)^T V] / (phi(Q) . sum_j phi(K_j)): O(N m d) time and
O(N (m + d)) memory instead of O(N^2).  Padded keys are removed by zeroing their features.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .layers import activation


def orthogonal_gaussian(m: int, d: int, generator: torch.Generator) -> torch.Tensor:
    """[m, d] random directions: stacked orthogonal blocks, rows rescaled to chi(d)-distributed norms."""
    blocks, left = [], m
    while left > 0:
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=generator))
        blocks.append(q.T[:min(left, d)])
        left -= d
    w = torch.cat(blocks, dim=0)
    norms = torch.randn(m, d, generator=generator).norm(dim=1, keepdim=True)
    return w * norms


class FavorAttention(nn.Module):
    def __init__(self, width: int, num_heads: int, num_random_features: int, seed: int = 0):
        super().__init__()
        if width % num_heads:
            raise ValueError(f"width {width} must be divisible by num_heads {num_heads}")
        self.h, self.dh, self.m = num_heads, width // num_heads, int(num_random_features)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("proj", orthogonal_gaussian(self.m, self.dh, gen))

    def _features(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        """Positive random features of x [B, H, N, dh] -> [B, H, N, m] (max-stabilised)."""
        x = x * self.dh ** -0.25
        wx = x @ self.proj.T
        wx = wx - (x * x).sum(-1, keepdim=True) / 2
        if key_mask is None:  # queries: a per-row constant cancels between numerator and denominator
            stab = wx.amax(dim=-1, keepdim=True)
        else:  # keys: one constant per (event, head), over real elements only
            stab = wx.masked_fill(~key_mask[:, None, :, None], -torch.inf).amax(dim=(-1, -2), keepdim=True)
            stab = torch.nan_to_num(stab, neginf=0.0)
        phi = torch.exp(wx - stab.detach()) / math.sqrt(self.m)
        if key_mask is not None:
            phi = phi * key_mask[:, None, :, None].to(phi.dtype)
        return phi + 1e-6

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)
        pq = self._features(q, None)
        pk = self._features(k, mask) * mask[:, None, :, None].to(x.dtype)
        kv = torch.einsum("bhnm,bhnd->bhmd", pk, v)
        num = torch.einsum("bhnm,bhmd->bhnd", pq, kv)
        den = torch.einsum("bhnm,bhm->bhn", pq, pk.sum(dim=2)).clamp_min(1e-9)
        y = (num / den.unsqueeze(-1)).transpose(1, 2).reshape(B, N, self.h * self.dh)
        return self.out(y)


class KernelEncoderLayer(nn.Module):
    """Pre-LayerNorm transformer block with FAVOR+ attention: x += Attn(LN x); x += FFN(LN x)."""

    def __init__(self, width: int, num_heads: int = 4, num_random_features: int = 32, dropout: float = 0.0,
                 act: str = "elu", seed: int = 0):
        super().__init__()
        self.ln0, self.ln1 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = FavorAttention(width, num_heads, num_random_features, seed)
        self.ff = nn.Sequential(nn.Linear(width, width), activation(act), nn.Linear(width, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(x.dtype)
        x = x + self.dropout(self.attn(self.ln0(x), mask)) * m
        x = x + self.dropout(self.ff(self.ln1(x))) * m
        return x * m
