"""MLPF models and loss: shapes, padding masking, permutation equivariance, FAVOR+ accuracy, training."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables.mlpf.dataset import batches, collate
from trainables.mlpf.kernel_attention import FavorAttention
from trainables.mlpf.loss import COMPONENTS, focal_loss, mlpf_loss
from trainables.mlpf.model import build_model, predict_particles

torch.set_num_threads(1)
TINY = {"width": 16, "num_convs": 2, "bin_size": 8, "distance_dim": 8, "ffn_dist_hidden_dim": 16,
        "num_heads": 2, "num_random_features": 16}
MODELS = ("gnn_lsh", "transformer")


def _event(n: int, rng) -> dict:
    X = rng.lognormal(0, 1, (n, 17)).astype(np.float32)
    X[:, 0] = rng.integers(1, 3, n)
    X[:, 2] = rng.uniform(-2, 2, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    X[:, 3], X[:, 4] = np.sin(phi), np.cos(phi)
    Y = np.zeros((n, 7), np.float32)
    cls = rng.integers(0, 6, n)
    Y[:, 0] = cls
    Y[:, 1] = np.where(X[:, 0] == 1, rng.choice([-1, 1], n), 0) * (cls > 0)
    Y[:, 2] = X[:, 1] * rng.uniform(0.8, 1.2, n) * (cls > 0)
    Y[:, 3] = X[:, 2] * (cls > 0)
    Y[:, 4], Y[:, 5] = X[:, 3] * (cls > 0), X[:, 4] * (cls > 0)
    Y[:, 6] = X[:, 5] * rng.uniform(0.8, 1.2, n) * (cls > 0)
    return {"X": X, "ygen": Y}


@pytest.fixture(scope="module")
def events():
    rng = np.random.default_rng(0)
    return [_event(n, rng) for n in (5, 23, 17, 30)]


def _model(kind, **kw):
    torch.manual_seed(0)
    return build_model({"model": kind, **TINY, **kw}).eval()


@pytest.mark.parametrize("kind", MODELS)
def test_output_shapes_and_padding_is_zero(kind, events):
    b = collate(events)
    out = _model(kind)(b.X, b.mask)
    B, N = b.mask.shape
    assert out["binary"].shape == (B, N, 2) and out["cls"].shape == (B, N, 6)
    assert out["charge"].shape == (B, N, 3) and out["reg"].shape == (B, N, 5)
    for v in out.values():
        assert torch.isfinite(v).all()
        assert (v[~b.mask] == 0).all()
    dec = predict_particles(out)
    assert dec["cls"].shape == (B, N) and ((dec["cls"] >= 0) & (dec["cls"] < 6)).all()


@pytest.mark.parametrize("kind", MODELS)
def test_padding_does_not_change_real_outputs(kind, events):
    model = _model(kind)
    alone = collate(events[:1])  # 5 elements, no padding
    padded = collate(events[:2])  # padded to 23
    with torch.no_grad():
        a = model(alone.X, alone.mask)
        p = model(padded.X, padded.mask)
    for k in a:
        torch.testing.assert_close(a[k][0], p[k][0, :5], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind,n", [("gnn_lsh", 7), ("gnn_lsh", 30), ("transformer", 30)])
def test_permutation_equivariance(kind, n, events):
    """Permuting the elements permutes the outputs (gnn_lsh: one bin at n=7, several bins at n=30)."""
    model = _model(kind)
    ev = events[3] if n == 30 else {"X": events[1]["X"][:n], "ygen": events[1]["ygen"][:n]}
    b = collate([ev])
    perm = torch.from_numpy(np.random.default_rng(1).permutation(n))
    with torch.no_grad():
        out = model(b.X, b.mask)
        outp = model(b.X[:, perm], b.mask[:, perm])
    for k in out:
        torch.testing.assert_close(out[k][:, perm], outp[k], atol=1e-5, rtol=1e-4)


def test_gnn_lsh_uses_several_bins(events):
    model = _model("gnn_lsh")
    layer = model.conv_id[0]
    b = collate(events)
    z = layer.dist(layer.norm(model.enc_id(model.encoding(b.X))))
    order = layer.bin_order(z, b.mask, n_bins=4)
    # every row is a permutation with padding last
    assert (order.sort(dim=1).values == torch.arange(b.X.shape[1])).all()
    n_real = b.mask.sum(1)
    for i in range(len(events)):
        assert b.mask[i, order[i, :n_real[i]]].all()


def test_favor_attention_approximates_softmax_attention():
    torch.manual_seed(0)
    att = FavorAttention(width=8, num_heads=1, num_random_features=4096, seed=0)
    x = 0.5 * torch.randn(1, 12, 8)
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[0, 9:] = False
    q, k, v = att.qkv(x).view(1, 12, 3, 1, 8).permute(2, 0, 3, 1, 4)
    logits = (q @ k.transpose(-1, -2)) / 8 ** 0.5
    logits = logits.masked_fill(~mask[:, None, None, :], -torch.inf)
    exact = att.out((logits.softmax(-1) @ v).transpose(1, 2).reshape(1, 12, 8))
    approx = att(x, mask)
    assert (approx - exact).abs().max() < 0.05 * exact.abs().max()


def test_focal_loss_downweights_easy_examples():
    logits = torch.tensor([[5.0, 0, 0], [0.2, 0, 0]])
    target = torch.tensor([0, 0])
    fl = focal_loss(logits, target, gamma=2.0)
    ce = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    assert (fl < ce).all() and fl[0] / ce[0] < fl[1] / ce[1]
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0), ce)


def test_loss_ignores_padding_and_components_sum(events):
    b = collate(events)
    out = _model("gnn_lsh")(b.X, b.mask)
    L = mlpf_loss(out, b)
    assert set(COMPONENTS) <= set(L)
    torch.testing.assert_close(L["loss"], sum(L[k] for k in COMPONENTS))
    garbage = {k: torch.where(b.mask.unsqueeze(-1), v, torch.full_like(v, 1e3)) for k, v in out.items()}
    torch.testing.assert_close(mlpf_loss(garbage, b)["loss"], L["loss"])
    # a perfect prediction has zero regression loss
    perfect = dict(out, reg=b.reg.clone())
    assert float(mlpf_loss(perfect, b)["loss_pt"]) == 0.0


@pytest.mark.parametrize("kind", MODELS)
def test_loss_decreases_on_a_fixed_batch(kind, events):
    model = _model(kind).train()
    b = batches(events, 4)[0]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        L = mlpf_loss(model(b.X, b.mask), b)["loss"]
        opt.zero_grad()
        L.backward()
        opt.step()
        losses.append(float(L.detach()))
    assert losses[-1] < 0.5 * losses[0]
    for p in model.parameters():  # every parameter is trained (needed for DDP without unused params)
        assert p.grad is not None
