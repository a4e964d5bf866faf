"""MLPF training loss, weighted as in the PyTorch MLPF (jpata/particleflow v2.x; arXiv:2309.06782).

  10 * CE(particle / no particle)                       mean over real elements
+ focal(gamma=2)(class)          on true particles,    summed / n_elements   (Lin et al., arXiv:1708.02002)
+ CE(charge)                     on true particles,    summed / n_elements
+ sum sqrt(pT_true) * (log pT ratio error)^2           / n_particles
+ sum sqrt(pT_true) * (log E ratio error)^2            / n_particles
+ 0.01 * squared error of eta, sin phi, cos phi         / n_particles
Padding never contributes.  Weights can be overridden (``loss_weights`` in the trainable args).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .dataset import Batch

DEFAULT_WEIGHTS = {"binary": 10.0, "cls": 1.0, "charge": 1.0, "pt": 1.0, "energy": 1.0,
                   "eta": 0.01, "sin_phi": 0.01, "cos_phi": 0.01}
COMPONENTS = tuple(f"loss_{k}" for k in DEFAULT_WEIGHTS)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Per-sample focal loss -(1 - p_t)^gamma log p_t (no class weights)."""
    logp = F.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return -((1 - logp.exp()) ** gamma) * logp


def mlpf_loss(out: dict[str, torch.Tensor], batch: Batch, weights: dict | None = None) -> dict[str, torch.Tensor]:
    """Loss components (``loss_<name>``, already weighted) and their sum ``loss``."""
    w = dict(DEFAULT_WEIGHTS, **(weights or {}))
    mask = batch.mask
    real = mask.float()
    n_elem = real.sum().clamp_min(1.0)
    true = (batch.cls > 0) & mask
    t = true.float()
    n_part = t.sum().clamp_min(1.0)
    comps: dict[str, torch.Tensor] = {}
    ce_bin = F.cross_entropy(out["binary"].reshape(-1, 2), true.long().reshape(-1), reduction="none")
    comps["binary"] = (ce_bin * real.reshape(-1)).sum() / n_elem
    cls_target = batch.cls.clamp(min=0)
    comps["cls"] = (focal_loss(out["cls"], cls_target) * t).sum() / n_elem
    ce_q = F.cross_entropy(out["charge"].reshape(-1, 3), batch.charge.reshape(-1), reduction="none")
    comps["charge"] = (ce_q * t.reshape(-1)).sum() / n_elem
    err2 = (out["reg"] - batch.reg) ** 2
    pt_weight = torch.sqrt(batch.ygen[..., 2].clamp_min(0.0)) * t
    comps["pt"] = (err2[..., 0] * pt_weight).sum() / n_part
    comps["energy"] = (err2[..., 4] * pt_weight).sum() / n_part
    for i, name in ((1, "eta"), (2, "sin_phi"), (3, "cos_phi")):
        comps[name] = (err2[..., i] * t).sum() / n_part
    result = {f"loss_{k}": w[k] * v for k, v in comps.items()}
    result["loss"] = sum(result.values())
    return result
