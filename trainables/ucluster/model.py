"""ABCNet-style graph attention network used by UCluster, in PyTorch.

Architecture after ABCNet (Mikuni & Canelli, EPJ Plus 135 (2020) 463, arXiv:2001.05311) as used by
UCluster (Mikuni & Canelli, PRD 103 (2021) 092007): two graph-attention pooling (GAP) layers on
k-nearest-neighbour graphs -- the first in (d_eta, d_phi) with phi wrap-around, the second in the
learned feature space -- shared 1x1 convolutions, a per-point projection to a small embedding that is
averaged over the constituent slots, and a fully connected mass-bin classifier on that embedding.
Channel counts are the paper's times ``width``; padding slots are pushed out of every neighbourhood.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

PAD_DISTANCE = 1.0e6
POOLS = ("mean", "masked_mean", "max")
EMBED_ACTS = ("relu", "none")


def pool_points(e: torch.Tensor, valid: torch.Tensor, how: str) -> torch.Tensor:
    """[B, N, D] per-point embeddings -> [B, D].

    ``mean``: average over all N slots, padding included (the original UCluster); ``masked_mean``: over
    the real constituents only; ``max``: maximum over the real constituents.
    """
    if how == "mean":
        return e.mean(1)
    m = valid[..., None].to(e.dtype)
    if how == "masked_mean":
        return (e * m).sum(1) / m.sum(1).clamp_min(1.0)
    return e.masked_fill(~valid[..., None], float("-inf")).amax(1)


def knn_indices(points: torch.Tensor, k: int, valid: torch.Tensor, phi_dim: int | None = None) -> torch.Tensor:
    """Indices [B, N, k] of the k nearest points (self included) by squared Euclidean distance.

    ``phi_dim``: coordinate whose differences wrap around 2*pi.  Padding points (``valid`` False) get
    ``PAD_DISTANCE`` added, so they are only chosen when a jet has fewer than k real constituents.
    """
    diff = points[:, :, None, :] - points[:, None, :, :]
    if phi_dim is not None:
        d = diff[..., phi_dim]
        diff = diff.clone()
        diff[..., phi_dim] = torch.remainder(d + math.pi, 2 * math.pi) - math.pi
    dist = (diff * diff).sum(-1)
    dist = dist + (~valid)[:, None, :].to(dist.dtype) * PAD_DISTANCE
    return dist.topk(min(k, points.shape[1]), dim=-1, largest=False).indices


def gather_neighbours(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x [B, N, C], idx [B, N, k] -> [B, N, k, C]."""
    b, n, k = idx.shape
    flat = idx.reshape(b, n * k, 1).expand(-1, -1, x.shape[-1])
    return torch.gather(x, 1, flat).reshape(b, n, k, x.shape[-1])


class PointBN(nn.Module):
    """BatchNorm over the last (channel) axis of a tensor of any rank."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class Dense(nn.Sequential):
    """Per-point linear -> BatchNorm -> ReLU (a 1x1 convolution block)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Linear(c_in, c_out, bias=False), PointBN(c_out), nn.ReLU())


class GAPLayer(nn.Module):
    """Graph attention pooling, one head (ABCNet eq. 1-3).

    Returns (attention features [B,N,F], local max-pooled edge features [B,N,F]).
    """

    def __init__(self, c_in: int, channels: int):
        super().__init__()
        self.self_proj = Dense(c_in, channels)
        self.edge_lin = nn.Linear(c_in, channels, bias=True)  # applied to (x_i - x_j)
        self.edge_post = nn.Sequential(PointBN(channels), nn.ReLU())
        self.self_logit = Dense(channels, 1)
        self.edge_logit = Dense(channels, 1)
        self.out_bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.self_proj(x)
        # W (x_i - x_j) + b == W x_i - W x_j + b: project once per point, then gather (k times cheaper)
        y = F.linear(x, self.edge_lin.weight)
        edge = self.edge_post(y[:, :, None, :] - gather_neighbours(y, idx) + self.edge_lin.bias)
        logits = F.leaky_relu(self.self_logit(s)[:, :, None, :] + self.edge_logit(edge), 0.2)
        coef = torch.softmax(logits, dim=2)                      # over the k neighbours
        att = F.relu((coef * edge).sum(2) + self.out_bias)
        return att, edge.amax(2)


class UClusterNet(nn.Module):
    """x [B, N, 8] (UCluster features) -> (mass-bin logits [B, n_classes], embedding [B, embed_dim]).

    Defaults are the published network (ReLU embedding averaged over all slots); ``pool="masked_mean"``,
    ``embed_act="none"``, ``z_norm=True`` is the variant the trainable uses (see README.md).

    ``centroids`` [n_clusters, embed_dim] are trainable parameters of the deep k-means loss.
    """

    def __init__(self, n_features: int = 8, n_classes: int = 20, embed_dim: int = 3, n_clusters: int = 3,
                 k: int = 10, width: float = 1.0, pool: str = "mean", embed_act: str = "relu",
                 z_norm: bool = False):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if embed_act not in EMBED_ACTS:
            raise ValueError(f"embed_act must be one of {EMBED_ACTS}, got {embed_act!r}")
        self.hparams = {"n_features": n_features, "n_classes": n_classes, "embed_dim": embed_dim,
                        "n_clusters": n_clusters, "k": k, "width": width, "pool": pool, "embed_act": embed_act,
                        "z_norm": bool(z_norm)}
        self.pool = pool
        c = [max(4, int(round(v * width))) for v in (16, 64, 128, 128, 256, 256)]
        self.k = k
        self.gap1 = GAPLayer(n_features, c[0])
        self.h1, self.h2 = Dense(n_features + c[0], c[1]), Dense(c[1], c[2])
        self.gap2 = GAPLayer(c[2], c[3])
        self.h3, self.h4 = Dense(n_features + c[3], c[4]), Dense(c[4], c[5])
        c_cat = c[0] + c[1] + c[2] + c[3] + c[4] + c[5]
        self.embed = (Dense(c_cat, embed_dim) if embed_act == "relu"
                      else nn.Sequential(nn.Linear(c_cat, embed_dim, bias=False), PointBN(embed_dim)))
        self.classifier = nn.Sequential(nn.Linear(embed_dim, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(),
                                        nn.Linear(256, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(),
                                        nn.Linear(128, n_classes))
        self.centroids = nn.Parameter(torch.zeros(n_clusters, embed_dim))
        # non-affine BatchNorm of the pooled embedding: fixes its scale per dimension (see README)
        self.z_norm = nn.BatchNorm1d(embed_dim, affine=False) if z_norm else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        valid = x[..., 2] != 0                                   # log(pT/pT_jet) is 0 only on padding
        idx1 = knn_indices(x[..., :2], self.k, valid, phi_dim=1)
        att1, loc1 = self.gap1(x, idx1)
        h1 = self.h1(torch.cat([x, att1], -1))
        h2 = self.h2(h1)
        idx2 = knn_indices(h2, self.k, valid)
        att2, loc2 = self.gap2(h2, idx2)
        h3 = self.h3(torch.cat([x, att2], -1))
        h4 = self.h4(h3)
        e = self.embed(torch.cat([h1, h2, h3, h4, loc1, loc2], -1))
        z = pool_points(e, valid, self.pool)
        if self.z_norm is not None:
            z = self.z_norm(z)
        return self.classifier(z), z

    def get_state(self) -> dict:
        """Constructor arguments (JSON-able) and weights (CPU tensors)."""
        return {"hparams": dict(self.hparams), "weights": {k: v.detach().cpu() for k, v in self.state_dict().items()}}

    def set_state(self, state: dict) -> None:
        if state["hparams"] != self.hparams:
            raise ValueError(f"state is for {state['hparams']}, this network is {self.hparams}")
        self.load_state_dict(state["weights"])

    @classmethod
    def from_state(cls, state: dict) -> "UClusterNet":
        net = cls(**state["hparams"])
        net.set_state(state)
        return net
