"""Constituent columns (HLS4ML layout) and the 8 UCluster input features.

UCluster (Mikuni & Canelli, PRD 103 (2021) 092007, arXiv:2010.07106) feeds, per constituent,
``[d_eta, d_phi, log(pT/pT_jet), dR, log E, log(E/E_jet), log pT, cos theta_rel]``; padding slots are 0
and the log of a 0 column is 0.  Jets are kept for W, Z, top with 10 < m_jet < 200 GeV; the
pre-training target is the jet-mass bin.
"""
from __future__ import annotations

import numpy as np

from .hls4ml import JetArrays, PARTICLE_FEATURES

COL = {name: i for i, name in enumerate(PARTICLE_FEATURES)}
FEATURE_NAMES = ("deta", "dphi", "log_ptrel", "dR", "log_e", "log_erel", "log_pt", "costheta_rel")
MASS_WINDOW = (10.0, 200.0)


def wrap_phi(dphi):
    """Map angle differences to [-pi, pi)."""
    return (np.asarray(dphi) + np.pi) % (2 * np.pi) - np.pi


def _eta(px, py, pz):
    pt = np.hypot(px, py)
    return np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))


def constituent_columns(p4: np.ndarray, jet_p4: np.ndarray, max_constituents: int = 100) -> np.ndarray:
    """The 16 HLS4ML columns for one jet from constituent four-vectors ``p4`` [n, 4] = (px, py, pz, E).

    Constituents are sorted by decreasing pT and cut at ``max_constituents``; rows beyond are 0.
    eta_rot/phi_rot: (d_eta, d_phi) rotated so the pT-weighted principal axis lies along eta.
    cos theta_rel: cosine of the 3-d angle between the constituent and the jet momentum.
    """
    px, py, pz, e = (p4[:, i].astype(np.float64) for i in range(4))
    pt = np.hypot(px, py)
    order = np.argsort(-pt, kind="stable")[:max_constituents]
    px, py, pz, e, pt = px[order], py[order], pz[order], e[order], pt[order]
    jpx, jpy, jpz, je = (float(v) for v in jet_p4)
    jpt = np.hypot(jpx, jpy)
    jeta = float(_eta(np.array([jpx]), np.array([jpy]), np.array([jpz]))[0])
    jphi = np.arctan2(jpy, jpx)
    eta = _eta(px, py, pz)
    phi = np.arctan2(py, px)
    deta = eta - jeta
    dphi = wrap_phi(phi - jphi)
    w = pt / pt.sum()
    cov = np.cov(np.vstack([deta, dphi]), aweights=w) if len(pt) > 1 else np.eye(2)
    evals, evecs = np.linalg.eigh(np.atleast_2d(cov))
    axis = evecs[:, np.argmax(evals)]
    angle = np.arctan2(axis[1], axis[0])
    c, s = np.cos(-angle), np.sin(-angle)
    pmag = np.sqrt(px**2 + py**2 + pz**2)
    jmag = np.sqrt(jpx**2 + jpy**2 + jpz**2)
    out = np.zeros((max_constituents, 16), dtype=np.float32)
    n = len(order)
    cols = {
        "j1_px": px, "j1_py": py, "j1_pz": pz, "j1_e": e, "j1_erel": e / je, "j1_pt": pt,
        "j1_ptrel": pt / jpt, "j1_eta": eta, "j1_etarel": deta, "j1_etarot": c * deta - s * dphi,
        "j1_phi": phi, "j1_phirel": dphi, "j1_phirot": s * deta + c * dphi,
        "j1_deltaR": np.hypot(deta, dphi), "j1_costheta": pz / np.maximum(pmag, 1e-12),
        "j1_costhetarel": (px * jpx + py * jpy + pz * jpz) / np.maximum(pmag * jmag, 1e-12),
    }
    for name, values in cols.items():
        out[:n, COL[name]] = values
    return out


def _safe_log(x: np.ndarray) -> np.ndarray:
    return np.log(x, out=np.zeros_like(x), where=x > 0)


def ucluster_features(constituents: np.ndarray) -> np.ndarray:
    """[N, C, 16] HLS4ML columns -> [N, C, 8] UCluster features (0 on padding slots)."""
    c = constituents.astype(np.float32)
    real = c[..., COL["j1_pt"]] > 0
    feats = np.stack([
        c[..., COL["j1_etarel"]],
        c[..., COL["j1_phirel"]],
        _safe_log(c[..., COL["j1_ptrel"]]),
        c[..., COL["j1_deltaR"]],
        _safe_log(c[..., COL["j1_e"]]),
        _safe_log(c[..., COL["j1_erel"]]),
        _safe_log(c[..., COL["j1_pt"]]),
        c[..., COL["j1_costhetarel"]],
    ], axis=-1)
    return np.where(real[..., None], feats, 0.0).astype(np.float32)


def mass_bin_labels(mass: np.ndarray, n_bins: int = 20, hi: float = MASS_WINDOW[1]) -> np.ndarray:
    """Pre-training target: index of ``n_bins`` equal bins on [0, hi) GeV (clipped at both ends)."""
    return np.clip(np.floor(np.asarray(mass) / hi * n_bins), 0, n_bins - 1).astype(np.int64)


def select_jets(jets: JetArrays, window: tuple[float, float] = MASS_WINDOW) -> JetArrays:
    """W/Z/top jets (label >= 0) with window[0] < m < window[1]."""
    keep = (jets.label >= 0) & (jets.mass > window[0]) & (jets.mass < window[1])
    return jets.subset(np.flatnonzero(keep))
