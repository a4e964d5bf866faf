"""UCluster training loop: mass-bin pre-training, k-means centroid initialisation, joint deep k-means.

Schedule after Mikuni & Canelli, PRD 103 (2021) 092007 (and its public TF code): epochs below
``pretrain_epochs`` minimise the focal loss of the jet-mass-bin classifier only; at the first joint
epoch the centroids are set by k-means on the embeddings of (a fixed subset of) the training jets;
afterwards the loss is ``beta * L_km + L_focal`` with the k-means inverse temperature
``alpha = alpha_growth * (epoch - pretrain_epochs + 1)``.  Every epoch reports the validation losses
and the Hungarian-matched clustering accuracy and checkpoints, so a paused trial resumes mid-curve.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch

import hpo
from hpo import distributed

from .data import Split, load_split, load_splits
from .losses import (assign_clusters, confusion, focal_loss, hungarian_accuracy_from_confusion,
                     kmeans_centroids, kmeans_loss, mass_kmeans_accuracy)
from .model import UClusterNet

log = logging.getLogger(__name__)

#: hyperparameters (searched) and fixed arguments with their defaults
DEFAULTS = {
    "lr": 1.0e-3, "lr_decay": 0.9, "lr_min": 1.0e-5, "batch_size": 512, "focal_gamma": 2.0,
    "focal_alpha": 10.0, "beta": 10.0, "alpha_growth": 5.0, "pretrain_epochs": 2, "embed_dim": 3,
    "width": 0.25, "k": 10, "n_clusters": 3, "n_mass_bins": 20, "val_fraction": 0.2, "max_jets": None,
    "val_path": None, "test_path": None, "seed": 0, "kmeans_init_jets": 5000, "bn_calib_jets": 2048, "eval_batch_size": 1024, "max_epochs": 10,
    "pool": "masked_mean", "embed_act": "none", "z_norm": True, "mass_target": "mass",
}


#: keys the service or the data preparation put in a trial's config besides the ones above
OTHER_KEYS = {"data_path", "jets_per_class", "data_seed", "gen_workers", "mpi", "jets_per_chunk", "progress"}


def resolve(config: dict) -> dict:
    unknown = sorted(set(config) - set(DEFAULTS) - OTHER_KEYS)
    if unknown:
        log.warning("ucluster: ignoring unknown config keys %s", unknown)
    cfg = {**DEFAULTS, **{k: v for k, v in config.items() if v is not None or k not in DEFAULTS}}
    for key in ("batch_size", "pretrain_epochs", "embed_dim", "k", "n_clusters", "n_mass_bins", "max_epochs"):
        cfg[key] = int(cfg[key])
    return cfg


def _batches(n: int, size: int, generator: torch.Generator | None = None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, size):
        idx = order[start:start + size]
        if len(idx) >= 2:  # BatchNorm needs two samples in training mode
            yield idx


@torch.no_grad()
def embed(model, x: torch.Tensor, batch: int, dev) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, embeddings) of all jets in x, model in eval mode."""
    model.eval()
    outs = [model(x[s:s + batch].to(dev)) for s in range(0, len(x), batch)]
    return torch.cat([o[0] for o in outs]).cpu(), torch.cat([o[1] for o in outs]).cpu()


def evaluate(model, core: UClusterNet, val: Split, cfg: dict, alpha: float, joint: bool, dev) -> dict:
    x = torch.from_numpy(val.x)
    logits, z = embed(model, x, cfg["eval_batch_size"], dev)
    l_focal = float(focal_loss(logits, torch.from_numpy(val.mass_bin), cfg["focal_gamma"], cfg["focal_alpha"]))
    if joint:
        centroids = core.centroids.detach().cpu()
    else:  # before the centroids exist, score the embedding with a fresh k-means on the val set
        centroids = torch.from_numpy(kmeans_centroids(z.numpy(), cfg["n_clusters"], cfg["seed"])).float()
    l_km = float(kmeans_loss(z, centroids, max(alpha, cfg["alpha_growth"])))
    counts = confusion(assign_clusters(z, centroids).numpy(), val.truth, cfg["n_clusters"], 3)
    acc = hungarian_accuracy_from_confusion(counts)
    val_loss = cfg["beta"] * l_km + l_focal if joint else l_focal
    return {"val_loss": val_loss, "loss_km": l_km, "loss_focal": l_focal, "cluster_acc": acc}


@torch.no_grad()
def recalibrate_batchnorm(core: torch.nn.Module, x: torch.Tensor, batch: int, dev) -> None:
    """Replace the BatchNorm running statistics by exact averages over ``x`` with the current weights.

    With few, large-lr steps per epoch the exponential running averages lag behind the weights and the
    eval-mode network differs from the trained one ("precise BN", Wu & Johnson, arXiv:2105.07576).
    """
    bns = [m for m in core.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average = plain mean over the calibration batches
    core.train()
    for s in range(0, len(x) - 1, batch):
        core(x[s:s + batch].to(dev))
    for m, mom in zip(bns, momenta):
        m.momentum = mom


def build_model(cfg: dict) -> UClusterNet:
    """The network a resolved config describes."""
    return UClusterNet(n_classes=cfg["n_mass_bins"], embed_dim=cfg["embed_dim"], n_clusters=cfg["n_clusters"],
                       k=cfg["k"], width=cfg["width"], pool=cfg["pool"], embed_act=cfg["embed_act"],
                       z_norm=bool(cfg["z_norm"]))


def init_centroids(model, core: UClusterNet, train: Split, cfg: dict, dev) -> None:
    """k-means on the embeddings of a seeded random subset of ``kmeans_init_jets`` training jets.

    Files are often ordered by class, so the subset is drawn at random; the seed makes it the same on
    every data-parallel rank (identical weights -> identical centroids, no communication needed).
    """
    n = min(len(train), int(cfg["kmeans_init_jets"]))
    pick = np.sort(np.random.default_rng(cfg["seed"]).choice(len(train), n, replace=False))
    _, z = embed(model, torch.from_numpy(train.x[pick]), cfg["eval_batch_size"], dev)
    centres = kmeans_centroids(z.numpy(), cfg["n_clusters"], cfg["seed"])
    with torch.no_grad():
        core.centroids.copy_(torch.from_numpy(centres).to(core.centroids))


def train_loop(config: dict) -> None:
    """One trial (runs on every data-parallel worker)."""
    cfg = resolve(config)
    rank, world_size = distributed.world()
    dev = distributed.device()
    torch.manual_seed(cfg["seed"])
    train, val = load_splits(cfg["data_path"], cfg["val_path"], cfg["val_fraction"], cfg["n_mass_bins"],
                             cfg["max_jets"], split_seed=cfg["seed"], target=cfg["mass_target"])
    test = (load_split(cfg["test_path"], cfg["n_mass_bins"], cfg["max_jets"], cfg["mass_target"])
            if cfg["test_path"] else None)
    core = build_model(cfg)
    opt = torch.optim.Adam(core.parameters(), lr=cfg["lr"])
    start, centroids_ready = 0, False
    ckpt = hpo.get_checkpoint()
    if ckpt is not None:
        core.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start, centroids_ready = int(ckpt["epoch"]) + 1, bool(ckpt["centroids_ready"])
    model = distributed.wrap_model(core)
    core = distributed.unwrap_model(model)
    # k-means on the jet mass alone: the reference the learned clustering must beat (hpo.physics_report)
    baselines = {"baseline_cluster_acc": mass_kmeans_accuracy(val.mass, val.truth, cfg["n_clusters"], cfg["seed"])}
    if test is not None:
        baselines["test_baseline_cluster_acc"] = mass_kmeans_accuracy(test.mass, test.truth, cfg["n_clusters"],
                                                                      cfg["seed"])
    x_all = torch.from_numpy(train.x)
    y_all = torch.from_numpy(train.mass_bin)
    mine = torch.arange(rank, len(train), world_size)  # this worker's shard
    for epoch in range(start, cfg["max_epochs"]):
        lr = max(cfg["lr_min"], cfg["lr"] * cfg["lr_decay"] ** epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        joint = epoch >= cfg["pretrain_epochs"]
        if joint and not centroids_ready:
            init_centroids(model, core, train, cfg, dev)
            centroids_ready = True
        alpha = cfg["alpha_growth"] * (epoch - cfg["pretrain_epochs"] + 1) if joint else 0.0
        gen = torch.Generator().manual_seed(cfg["seed"] * 100_003 + epoch)
        model.train()
        sums = np.zeros(3)
        for idx in _batches(len(mine), cfg["batch_size"] // world_size, gen):
            sel = mine[idx]
            logits, z = model(x_all[sel].to(dev))
            l_focal = focal_loss(logits, y_all[sel].to(dev), cfg["focal_gamma"], cfg["focal_alpha"])
            l_km = kmeans_loss(z, core.centroids, alpha if joint else 1.0)
            # 0 * L_km keeps the centroids in the graph during pre-training (DDP needs every parameter used)
            loss = l_focal + (cfg["beta"] if joint else 0.0) * l_km
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums += (len(sel), float(l_focal.detach()) * len(sel), float(l_km.detach()) * len(sel))
        if cfg["bn_calib_jets"]:
            n = min(len(train), int(cfg["bn_calib_jets"]))
            pick = torch.from_numpy(np.random.default_rng(cfg["seed"] + epoch).choice(len(train), n, replace=False))
            recalibrate_batchnorm(core, x_all[pick], cfg["batch_size"], dev)
        metrics = evaluate(model, core, val, cfg, alpha, joint, dev)
        metrics.update(baselines)  # the mass-only reference on the same jets (constant per trial)
        if test is not None:  # independent sample: scores the trial chosen on the validation jets
            metrics.update({f"test_{k}": v for k, v in evaluate(model, core, test, cfg, alpha, joint, dev).items()})
        if not all(math.isfinite(v) for v in metrics.values()):
            log.warning("ucluster epoch %d: non-finite metrics %s", epoch, metrics)
        state = {"model": {k: v.detach().cpu() for k, v in core.state_dict().items()},
                 "optimizer": opt.state_dict(), "epoch": epoch, "centroids_ready": centroids_ready}
        hpo.report(**metrics, train_loss_focal=sums[1] / max(sums[0], 1), train_loss_km=sums[2] / max(sums[0], 1),
                   alpha=alpha, lr=lr, epoch=epoch, world_size=world_size, train_jets=len(mine),
                   checkpoint=state)
