"""One MLPF trial: train, validate and report every epoch; physics metrics on the last epoch.

Runs through ``hpo.distributed.run_data_parallel``: in-process with one worker, a Ray Train
``TorchTrainer`` (DDP; gloo on CPU, NCCL on GPU) with several.  Each worker reads its own Parquet
shards; validation sums are all-reduced so the loss reaching the scheduler covers all ranks.  Every
epoch is checkpointed (model, optimizer, RNG state), so a paused trial resumes mid-curve.

Speed options (``precision``, ``compile``, ``bucket_window``; ``trainables/accel.py`` and ``loader.py``):
the defaults (fp32, no compile, windows of 8 batches) train exactly as before.  Training and validation
sums stay on the device (float64) and reach the host once per epoch, so a GPU is not stalled by a
host sync every step.
"""
from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch

import hpo
from hpo import distributed

from ..accel import Precision, as_bool, maybe_compile
from .args import prepare, with_defaults
from .baseline import baseline_candidates
from .dataset import Batch, decode_regression
from .loader import device_batches, pack_events, train_loader
from .loss import COMPONENTS, mlpf_loss
from .model import build_model, predict_particles
from .physics import ResponseAccumulator, target_particles
from .schema import list_shards, read_shards

log = logging.getLogger("hpo.mlpf")


def load_split(data_dir: str, split: str, rank: int, world: int, limit: int | None) -> list[dict]:
    """This worker's events: its own shards when there are enough, else every world-th event."""
    files = list_shards(data_dir, split)
    if len(files) >= world:
        events = read_shards(files[rank::world])
    else:
        log.warning("%s: %d shard(s) for %d workers; each worker reads all and keeps every %d-th event",
                    split, len(files), world, world)
        events = read_shards(files)[rank::world]
    if limit:
        events = events[:max(1, int(limit) // world)]
    return events


def _all_reduce(values: list[float], op: str = "sum") -> list[float]:
    if distributed.world()[1] <= 1:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MIN if op == "min" else dist.ReduceOp.SUM)
    return t.tolist()


def _float(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Model outputs in float32 (autocast leaves some in bf16/fp16); losses are computed in float32."""
    return {k: v.float() for k, v in out.items()}


@torch.no_grad()
def evaluate(model, val_batches: list[Batch], precision: Precision, weights=None) -> tuple[dict, int]:
    """Sum over events of each loss component (for averaging across ranks) and the event count.

    Sums stay on the device in float64 (one host sync per evaluation, same values as summing Python
    floats)."""
    model.eval()
    keys = ("loss",) + COMPONENTS
    acc = None
    n = 0
    for b in val_batches:
        with precision.autocast():
            out = model(b.X, b.mask)
        losses = mlpf_loss(_float(out), b, weights)
        part = torch.stack([losses[k].detach() for k in keys]).double() * b.n_events
        acc = part if acc is None else acc + part
        n += b.n_events
    values = acc.tolist() if acc is not None else [0.0] * len(keys)
    return dict(zip(keys, values)), n


@torch.no_grad()
def physics_metrics(model, events: list[dict], val_batches: list[Batch], precision: Precision) -> dict[str, float]:
    """Jet/MET response of MLPF and of the rule-based baseline against target particles (all ranks).

    ``val_batches`` are the validation batches of ``events`` in file order (``loader.device_batches``)."""
    model.eval()
    acc_mlpf, acc_base = ResponseAccumulator(), ResponseAccumulator()
    correct = total = 0
    start = 0
    for b in val_batches:
        chunk = events[start:start + b.n_events]
        start += b.n_events
        with precision.autocast():
            out = _float(model(b.X, b.mask))
        part = predict_particles(out)
        kin = decode_regression(b.X, out["reg"])
        cls = part["cls"].cpu().numpy()
        kin = {k: v.float().cpu().numpy() for k, v in kin.items()}
        for i, ev in enumerate(chunk):
            n = len(ev["X"])
            sel = cls[i, :n] > 0
            reco = {k: kin[k][i, :n][sel] for k in ("pt", "eta", "phi", "energy")}
            target = target_particles(ev["ygen"])
            acc_mlpf.add(target, reco)
            acc_base.add(target, baseline_candidates(ev["X"]))
            correct += int((cls[i, :n] == ev["ygen"][:, 0].astype(int)).sum())
            total += n
    states = [(acc_mlpf.get_state(), acc_base.get_state(), correct, total)]
    if distributed.world()[1] > 1:
        import torch.distributed as dist

        gathered = [None] * distributed.world()[1]
        dist.all_gather_object(gathered, states[0])
        states = gathered
    acc_mlpf, acc_base = ResponseAccumulator(), ResponseAccumulator()
    for sm, sb, _, _ in states:
        acc_mlpf.merge(sm)
        acc_base.merge(sb)
    out = {**acc_mlpf.summary(), **acc_base.summary("baseline_")}
    out["cls_accuracy"] = sum(s[2] for s in states) / max(1, sum(s[3] for s in states))
    return out


def train_epoch(model, opt, loader, precision: Precision, weights=None) -> tuple[torch.Tensor, int]:
    """One pass over ``loader``: (sum over events of the training loss as a float64 device tensor, events)."""
    model.train()
    total, n = None, 0
    for b in loader:
        with precision.autocast():
            out = model(b.X, b.mask)
        loss = mlpf_loss(_float(out), b, weights)["loss"]
        opt.zero_grad(set_to_none=True)
        precision.backward_step(loss, opt)
        part = loss.detach().double() * b.n_events
        total = part if total is None else total + part
        n += b.n_events
    return (total if total is not None else torch.zeros((), dtype=torch.float64)), n


def _lr_at(config: dict, base_lr: float, epoch: int) -> float:
    if config["lr_schedule"] == "cosine" and config["max_epochs"] > 1:
        frac = epoch / (config["max_epochs"] - 1)
        return base_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
    return base_lr


def speed_options(config: dict, device) -> tuple[Precision, bool, int, int]:
    """(precision, compile, bucket_window, pad_multiple) of a trial (see ``args.TRAIN_DEFAULTS``)."""
    precision = Precision(str(config.get("precision") or "fp32"), device)
    compiled = as_bool(config.get("compile", False))
    window = int(config.get("bucket_window", 8))
    return precision, compiled, window, (16 if compiled else 1)


def train_loop(config: dict) -> None:
    """Worker body (every DDP rank runs it)."""
    rank, world = distributed.world()
    device = distributed.device()
    seed = int(config["seed"])
    bs = int(round(float(config["batch_size"])))
    weights = config.get("loss_weights")
    precision, compiled, window, pad = speed_options(config, device)
    train_ev = load_split(config["data_dir"], "train", rank, world, config.get("max_train_events"))
    val_ev = load_split(config["data_dir"], "val", rank, world, config.get("max_val_events"))
    train_packs = pack_events(train_ev)
    del train_ev
    val_batches = device_batches(pack_events(val_ev), bs, device, pad)
    torch.manual_seed(seed)
    model = distributed.wrap_model(build_model(config))
    base = distributed.unwrap_model(model)
    run = maybe_compile(model, compiled)  # the DDP wrapper (several workers) or the model itself
    run_eval = run if model is base else maybe_compile(base, compiled)  # validation skips DDP
    base_lr = float(config["lr"]) * (world if config.get("lr_scale_with_workers") else 1)
    opt = torch.optim.AdamW(model.parameters(), lr=base_lr, weight_decay=float(config["weight_decay"]))
    start = 0
    ckpt = hpo.get_checkpoint()
    if ckpt is not None:
        base.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        precision.set_state(ckpt.get("precision"))
        start = int(ckpt["epoch"]) + 1
    n_steps = int(_all_reduce([math.ceil(len(train_packs) / bs)], "min")[0])
    max_epochs = int(config["max_epochs"])
    for epoch in range(start, max_epochs):
        t0 = time.perf_counter()
        lr = _lr_at(config, base_lr, epoch)
        for g in opt.param_groups:
            g["lr"] = lr
        loader = train_loader(train_packs, bs, seed=seed * 100_003 + epoch, n_batches=n_steps, window=window,
                              device=device, pad_multiple=pad)
        train_sum, n_train = train_epoch(run, opt, loader, precision, weights)
        sums, n_val = evaluate(run_eval, val_batches, precision, weights)
        keys = list(sums)
        reduced = _all_reduce([sums[k] for k in keys] + [float(n_val), float(train_sum), float(n_train)])
        n_val_all = max(reduced[len(keys)], 1.0)
        metrics = {("val_loss" if k == "loss" else k): v / n_val_all for k, v in zip(keys, reduced)}
        metrics["train_loss"] = reduced[-2] / max(reduced[-1], 1.0)
        metrics.update(epoch=epoch, lr=lr, epoch_time_s=time.perf_counter() - t0, world_size=world,
                       train_events=reduced[-1])
        if epoch == max_epochs - 1 and config.get("physics_metrics", True):
            metrics.update(physics_metrics(run_eval, val_ev, val_batches, precision))
        state = {"model": {k: v.detach().cpu() for k, v in base.state_dict().items()},
                 "optimizer": opt.state_dict(), "epoch": epoch, "torch_rng": torch.get_rng_state(),
                 "model_type": config["model"], "precision": precision.get_state()}
        hpo.report(checkpoint=state, **metrics)


def train(config: dict) -> None:
    """Trainable entry point: one trial (see module docstring)."""
    config = with_defaults(config)
    if not config.get("data_dir"):
        config = prepare(config)  # normally done once by the driver; the cache lock makes this safe
    np.random.seed(int(config["seed"]))
    distributed.run_data_parallel(train_loop, config)
