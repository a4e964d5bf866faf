"""Loss pieces and the clustering metric of UCluster (Mikuni & Canelli, PRD 103 (2021) 092007).

* focal loss (Lin et al., ICCV 2017, arXiv:1708.02002) on the jet-mass-bin classification;
* deep k-means loss (Fard, Thonet, Gaussier, arXiv:1806.10069): softmax-weighted squared distances to
  trainable centroids with inverse temperature alpha;
* clustering accuracy: best one-to-one cluster->class matching (Hungarian algorithm) over the whole set.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.nn import functional as F


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: float = 1.0) -> torch.Tensor:
    """mean over the batch of alpha * (1 - p_t)^gamma * (-log p_t); gamma = 0 is alpha * cross-entropy."""
    logp_t = F.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)
    p_t = logp_t.exp()
    return (alpha * (1.0 - p_t).clamp_min(0.0) ** gamma * (-logp_t)).mean()


def squared_distances(z: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """[B, K] squared Euclidean distances of embeddings z [B, D] to centroids [K, D]."""
    return ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)


def kmeans_loss(z: torch.Tensor, centroids: torch.Tensor, alpha: float) -> torch.Tensor:
    """Deep k-means loss: mean_b sum_k softmax_k(-alpha (d_bk - min_j d_bj)) d_bk.

    As alpha grows the weights tend to the hard nearest-centroid assignment (plain k-means cost).
    """
    d = squared_distances(z, centroids)
    w = torch.softmax(-alpha * (d - d.min(dim=1, keepdim=True).values), dim=1)
    return (w * d).sum(1).mean()


def assign_clusters(z: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    return squared_distances(z, centroids).argmin(1)


def confusion(pred: np.ndarray, truth: np.ndarray, n_clusters: int, n_classes: int) -> np.ndarray:
    """counts[cluster, class]"""
    m = np.zeros((n_clusters, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(pred, dtype=np.int64), np.asarray(truth, dtype=np.int64)), 1)
    return m


def hungarian_accuracy_from_confusion(counts: np.ndarray) -> float:
    """Fraction of samples on the best one-to-one cluster->class matching."""
    total = counts.sum()
    if total == 0:
        return float("nan")
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / total)


def cluster_accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    pred, truth = np.asarray(pred), np.asarray(truth)
    k = int(max(pred.max(initial=0), truth.max(initial=0))) + 1
    return hungarian_accuracy_from_confusion(confusion(pred, truth, k, k))


def kmeans_centroids(z: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """sklearn k-means centres (k-means++ initialisation, 10 restarts) of embeddings z [N, D]."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit(z).cluster_centers_


def mass_kmeans_accuracy(mass: np.ndarray, truth: np.ndarray, n_clusters: int = 3, seed: int = 0) -> float:
    """Baseline: k-means on the jet mass alone, Hungarian-matched accuracy."""
    from sklearn.cluster import KMeans

    pred = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(np.asarray(mass)[:, None])
    return cluster_accuracy(pred, truth)
