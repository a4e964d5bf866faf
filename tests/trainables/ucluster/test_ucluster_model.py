"""kNN with phi wrap-around, the ABCNet-style network, loss pieces and the Hungarian accuracy."""
import math

import numpy as np
import pytest
import torch

from trainables.ucluster.losses import (cluster_accuracy, focal_loss, hungarian_accuracy_from_confusion,
                                        kmeans_loss, mass_kmeans_accuracy)
from trainables.ucluster.model import UClusterNet, knn_indices

torch.set_num_threads(1)


def test_knn_wraps_phi_and_skips_padding():
    # (deta, dphi): point 0 at phi = pi - 0.01 is 0.02 from point 1 at -pi + 0.01 across the boundary
    pts = torch.tensor([[[0.0, math.pi - 0.01], [0.0, -math.pi + 0.01], [0.0, 3.0], [0.0, 0.0], [0.0, 0.0]]])
    valid = torch.tensor([[True, True, True, False, False]])
    idx = knn_indices(pts, 2, valid, phi_dim=1)
    assert set(idx[0, 0].tolist()) == {0, 1}
    assert set(idx[0, 1].tolist()) == {0, 1}
    assert set(idx[0, 2].tolist()) == {2, 0}  # 3.0 is 0.14 from pi-0.01; padding at phi=0 is nearer but excluded
    plain = knn_indices(pts, 2, valid, phi_dim=None)
    assert set(plain[0, 0].tolist()) == {0, 2}  # without wrap-around the true neighbour is missed


def test_network_shapes_and_permutation_invariance():
    torch.manual_seed(0)
    net = UClusterNet(embed_dim=3, n_classes=20, width=0.25).eval()
    x = torch.randn(4, 30, 8)
    x[:, 20:] = 0.0  # padding slots
    x[:, :20, 2] = -torch.rand(4, 20) - 0.1  # log pT/pT_jet < 0 marks real constituents
    logits, z = net(x)
    assert logits.shape == (4, 20) and z.shape == (4, 3)
    assert torch.all(z >= 0)
    perm = torch.randperm(30)
    _, z_perm = net(x[:, perm])
    torch.testing.assert_close(z, z_perm, rtol=1e-4, atol=1e-5)
    assert net.centroids.shape == (3, 3) and net.centroids.requires_grad
    copy = UClusterNet.from_state(net.get_state()).eval()
    torch.testing.assert_close(copy(x)[1], z)
    with pytest.raises(ValueError):
        UClusterNet(embed_dim=4, width=0.25).set_state(net.get_state())


def test_focal_loss_values():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])  # p_true = 0.5 and 0.75
    target = torch.tensor([0, 0])
    expected = 2.0 * (0.25 * math.log(2) + 0.0625 * -math.log(0.75)) / 2
    assert float(focal_loss(logits, target, gamma=2.0, alpha=2.0)) == pytest.approx(expected, rel=1e-6)
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert float(focal_loss(logits, target, gamma=0.0, alpha=1.0)) == pytest.approx(float(ce), rel=1e-6)


def test_kmeans_loss_limits():
    z = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    mu = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    # squared distances: row 0 -> (1, 25), row 1 -> (4, 16)
    assert float(kmeans_loss(z, mu, alpha=0.0)) == pytest.approx(((1 + 25) / 2 + (4 + 16) / 2) / 2)
    assert float(kmeans_loss(z, mu, alpha=1e3)) == pytest.approx((1 + 4) / 2)
    # alpha = 0.1: softmax weights of exp(-0.1 * (d - min d)), i.e. gaps 24 and 12
    w0, w1 = 1 / (1 + math.exp(-2.4)), 1 / (1 + math.exp(-1.2))
    expected = ((w0 * 1 + (1 - w0) * 25) + (w1 * 4 + (1 - w1) * 16)) / 2
    assert float(kmeans_loss(z, mu, alpha=0.1)) == pytest.approx(expected, rel=1e-6)
    mu.requires_grad_(True)
    kmeans_loss(z, mu, alpha=5.0).backward()
    assert mu.grad is not None and torch.all(torch.isfinite(mu.grad))


def test_hungarian_accuracy():
    truth = np.array([0, 0, 1, 1, 2, 2])
    assert cluster_accuracy(np.array([2, 2, 0, 0, 1, 1]), truth) == 1.0  # same partition, other names
    assert cluster_accuracy(np.array([0, 0, 0, 1, 2, 2]), truth) == pytest.approx(5 / 6)
    # best matching 0->1 (5), 1->0 (4), 2->2 (3) = 12 of 20; greedy by rows would pick 0->1 then 1->2
    counts = np.array([[1, 5, 0], [4, 0, 3], [0, 4, 3]])
    assert hungarian_accuracy_from_confusion(counts) == pytest.approx(12 / 20)


def test_mass_kmeans_baseline_separates_clear_peaks():
    rng = np.random.default_rng(0)
    mass = np.concatenate([rng.normal(80, 3, 50), rng.normal(91, 3, 50), rng.normal(175, 5, 50)])
    acc = mass_kmeans_accuracy(mass, np.repeat([0, 1, 2], 50))
    assert 0.85 < acc <= 1.0


def test_batchnorm_recalibration_uses_exact_means():
    from trainables.ucluster.training import recalibrate_batchnorm

    torch.manual_seed(1)
    net = UClusterNet(width=0.125, embed_dim=3)
    x = torch.randn(12, 20, 8)
    x[:, :, 2] = -torch.rand(12, 20) - 0.1
    net.classifier[1].running_mean.fill_(123.0)  # stale statistics
    recalibrate_batchnorm(net, x, batch=6, dev=torch.device("cpu"))
    calibrated = net.classifier[1].running_mean.clone()
    with torch.no_grad():
        net.train()
        _, z = net(x[:6])
        first = net.classifier[0](z).mean(0)
        _, z = net(x[6:])
        second = net.classifier[0](z).mean(0)
    # running mean = average of the two calibration batches' means (weights unchanged by the forward passes)
    torch.testing.assert_close(calibrated, (first + second) / 2, rtol=1e-4, atol=1e-5)
    assert net.classifier[1].momentum == 0.1


def _jets(n_jets: int, n_real: int, n_slots: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n_jets, n_slots, 8)
    x[:, :n_real] = torch.randn(n_jets, n_real, 8, generator=g)
    x[:, :n_real, 2] = -torch.rand(n_jets, n_real, generator=g) - 0.1  # real constituents
    return x


@pytest.mark.parametrize("pool", ["masked_mean", "max"])
def test_masked_pooling_ignores_padding_slots(pool):
    torch.manual_seed(2)
    net = UClusterNet(embed_dim=4, width=0.125, pool=pool, embed_act="none").eval()
    x = _jets(3, 15, 20)
    longer = torch.cat([x, torch.zeros(3, 30, 8)], 1)  # same jets, 30 more padding slots
    torch.testing.assert_close(net(longer)[1], net(x)[1], rtol=1e-4, atol=1e-5)
    assert (net(x)[1] < 0).any()  # no ReLU on the embedding
    original = UClusterNet(embed_dim=4, width=0.125).eval()  # paper: mean over all slots, diluted by padding
    assert not torch.allclose(original(longer)[1], original(x)[1], rtol=1e-3, atol=1e-4)


def test_normalised_embedding_has_fixed_scale():
    torch.manual_seed(3)
    net = UClusterNet(embed_dim=3, width=0.125, pool="masked_mean", embed_act="none", z_norm=True).train()
    x = _jets(64, 12, 16, seed=4)
    _, z = net(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.var(0, unbiased=False), torch.ones(3), atol=1e-2, rtol=0)  # up to BN eps
    with torch.no_grad():
        net.embed[1].bn.weight.mul_(0.5)  # halve the per-point embedding: the pooled z keeps its scale
    torch.testing.assert_close(net(x)[1], z, atol=2e-2, rtol=0)
    plain = UClusterNet(embed_dim=3, width=0.125, pool="masked_mean", embed_act="none").train()
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("z_norm")})
    before = plain(x)[1].std(0)
    with torch.no_grad():
        plain.embed[1].bn.weight.mul_(0.5)
    torch.testing.assert_close(plain(x)[1].std(0), 0.5 * before)  # without z_norm the embedding shrinks
    with pytest.raises(ValueError, match="pool"):
        UClusterNet(pool="sum")
