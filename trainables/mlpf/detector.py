"""Parametric CLIC-like detector: stable generator particles -> tracks and calorimeter clusters.

Resolutions and acceptances follow the CLICdet design figures quoted in the CLIC MLPF study
(arXiv:2309.06782) and the CLIC detector note (arXiv:1812.07337): B = 4 T, tracker |cos theta| < 0.98,
sigma(1/pT) = 2e-5 (+) 1e-3/(p sin^1.5 theta) GeV^-1, ECAL 17%/sqrt(E) (+) 1%, HCAL 55%/sqrt(E) (+) 5%.
Showers are split into fragments, noise deposits are added, and deposits are merged into clusters with
anti-kT R = 0.04 in (eta, phi) as a stand-in for Pandora.  Element features follow ``schema``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainables.fastjet_quiet import cluster_sequence

from .schema import N_FEATURES

B_FIELD = 4.0  # T
R_CALO = 1.5  # m, ECAL inner radius
Z_CALO = 2.3  # m, endcap face
TRK_COSTH = 0.98
CALO_COSTH = 0.995


@dataclass
class DetectorOutput:
    X: np.ndarray  # [n_elem, 17]: tracks first, then clusters
    track_of_particle: np.ndarray  # [n_particles] element index of the particle's track, -1 if none
    deposit_share: np.ndarray  # [n_particles, n_clusters] energy each particle left in each cluster
    n_tracks: int


def kinematics(p4: np.ndarray):
    """(pT, eta, phi, |p|, E) of four-vectors [n, 4] = (px, py, pz, E)."""
    px, py, pz, e = p4.T
    pt = np.hypot(px, py)
    p = np.sqrt(pt ** 2 + pz ** 2)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    return pt, eta, np.arctan2(py, px), p, e


def bending(pt: np.ndarray) -> np.ndarray:
    """Azimuthal bend of a track of transverse momentum pt [GeV] between beam axis and calorimeter."""
    return np.arcsin(np.clip(0.3 * B_FIELD * R_CALO / (2 * np.maximum(pt, 1e-3)), -1.0, 1.0))


def _tracks(pid, q, pt, eta, phi, p, rng):
    n = len(pid)
    costh = np.tanh(eta)
    eff = np.where(pt > 1.0, 0.995, np.where(pt > 0.1, 0.95, 0.0))
    idx = np.where((q != 0) & (np.abs(costh) < TRK_COSTH) & (rng.random(n) < eff))[0]
    k = len(idx)
    sin15 = np.clip(np.sqrt(1 - costh[idx] ** 2), 0.05, 1.0) ** 1.5
    inv_pt = 1 / pt[idx] + rng.normal(0, np.hypot(2e-5, 1e-3 / (p[idx] * sin15)))
    tpt = 1 / np.maximum(np.abs(inv_pt), 1e-6)
    teta = eta[idx] + rng.normal(0, 1e-4, k)
    tphi = phi[idx] + rng.normal(0, 1e-4, k)
    tp = tpt * np.cosh(teta)
    ndf = rng.integers(10, 30, k).astype(float)
    plateau = np.where(np.abs(pid[idx]) == 11, 1.45, 1.0)  # electrons on the dE/dx Fermi plateau
    dedx = plateau * (1 + 0.15 * np.exp(-tp / 0.5)) * (1 + rng.normal(0, 0.06, k))
    sig_ip = np.hypot(5e-3, 15e-3 / (p[idx] * sin15))  # mm
    X = np.zeros((k, N_FEATURES))
    X[:, 0] = 1
    X[:, 1], X[:, 2], X[:, 3], X[:, 4], X[:, 5] = tpt, teta, np.sin(tphi), np.cos(tphi), tp
    X[:, 6], X[:, 7] = rng.chisquare(ndf), ndf
    X[:, 8], X[:, 9] = dedx, 0.06 * dedx
    X[:, 10] = 31.0 + rng.exponential(2.0, k)
    X[:, 11] = np.sinh(teta)
    X[:, 12] = rng.normal(0, sig_ip)
    X[:, 13] = q[idx] * 0.3 * B_FIELD / tpt * 1e-3  # curvature omega [1/mm]
    X[:, 14] = rng.normal(0, sig_ip)
    X[:, 15] = rng.normal(0, 0.1, k)
    return X, idx


def _showers(pid, q, pt, eta, phi, p, e, rng):
    """Calorimeter deposits: lists (particle index or -1, eta, phi, E_ecal, E_hcal)."""
    apid = np.abs(pid)
    charged = q != 0
    reach = np.abs(np.tanh(eta)) < CALO_COSTH
    # low-pT charged particles curl up inside the tracker barrel
    reach &= ~(charged & (pt < 0.3 * B_FIELD * R_CALO / 2) & (np.abs(np.tanh(eta)) < 0.8))
    phi_calo = phi - np.sign(q) * np.where(charged, bending(pt), 0.0)
    out = []
    for i in np.where(reach)[0]:
        if apid[i] in (11, 22):
            ee = max(e[i] * (1 + rng.normal(0, np.hypot(0.17 / np.sqrt(e[i]), 0.01))), 0.0)
            frags = [(0.99 * ee, 0.01 * ee, 0.0)]
        elif apid[i] == 13:
            if p[i] < 2.0:
                continue
            frags = [(0.2 * rng.gamma(4, 0.25), 1.5 * rng.gamma(4, 0.25), 0.0)]  # MIP
        else:
            resp = 0.95 if charged[i] else 0.90  # e/h non-compensation
            eh = max(e[i] * resp * (1 + rng.normal(0, np.hypot(0.55 / np.sqrt(e[i]), 0.05))), 0.0)
            fe = rng.uniform(0.0, 0.6)
            frags = [(eh * fe, eh * (1 - fe), 0.0)]
            if eh > 5 and rng.random() < 0.3:  # hadronic split-off fragment
                f = rng.uniform(0.1, 0.3)
                frags = [(eh * fe * (1 - f), eh * (1 - fe) * (1 - f), 0.0), (eh * fe * f, eh * (1 - fe) * f, 0.08)]
        for ec, hc, offset in frags:
            if ec + hc < 0.05:
                continue
            ang = rng.uniform(0, 2 * np.pi)
            out.append((i, eta[i] + offset * np.cos(ang) + rng.normal(0, 0.005),
                        phi_calo[i] + offset * np.sin(ang) + rng.normal(0, 0.005), ec, hc))
    for _ in range(rng.poisson(2)):  # electronic noise
        out.append((-1, rng.uniform(-2.5, 2.5), rng.uniform(-np.pi, np.pi), rng.exponential(0.15), 0.0))
    return out


def _cluster(deposits, n_particles, rng):
    import fastjet as fj

    if not deposits:
        return np.zeros((0, N_FEATURES)), np.zeros((n_particles, 0))
    owner = np.array([d[0] for d in deposits], dtype=int)
    deta, dphi, ecal, hcal = (np.array([d[k] for d in deposits]) for k in (1, 2, 3, 4))
    etot = ecal + hcal
    pjs = []
    for k in range(len(deposits)):
        ptk = etot[k] / np.cosh(deta[k])
        pj = fj.PseudoJet(ptk * np.cos(dphi[k]), ptk * np.sin(dphi[k]), ptk * np.sinh(deta[k]), etot[k])
        pj.set_user_index(k)
        pjs.append(pj)
    seq = cluster_sequence(pjs, fj.JetDefinition(fj.antikt_algorithm, 0.04))
    clusters = sorted(seq.inclusive_jets(0.0), key=lambda j: -j.e())
    X = np.zeros((len(clusters), N_FEATURES))
    share = np.zeros((n_particles, len(clusters)))
    for c, jet in enumerate(clusters):
        ks = np.array([m.user_index() for m in jet.constituents()])
        E = etot[ks].sum()
        w = etot[ks] / max(E, 1e-9)
        ceta = float(np.sum(w * deta[ks]))
        cphi = float(np.angle(np.sum(w * np.exp(1j * dphi[ks]))))
        theta = 2 * np.arctan(np.exp(-ceta))
        r = R_CALO if abs(np.cos(theta)) < 0.8 else Z_CALO * abs(np.tan(theta))
        z = r / np.tan(theta) if abs(np.tan(theta)) > 1e-6 else 0.0
        width = (0.01 + 0.03 * hcal[ks].sum() / max(E, 1e-9)) * r * 1e3  # lateral spread [mm]
        X[c] = [2, E / np.cosh(ceta), ceta, np.sin(cphi), np.cos(cphi), E, r * np.cos(cphi) * 1e3,
                r * np.sin(cphi) * 1e3, z * 1e3, theta, ecal[ks].sum(), hcal[ks].sum(), 0.0,
                rng.poisson(5 + 20 * E), width, width, width]
        for k in ks:
            if owner[k] >= 0:
                share[owner[k], c] += etot[k]
    return X, share


def simulate(pid: np.ndarray, q: np.ndarray, p4: np.ndarray, rng: np.random.Generator) -> DetectorOutput:
    """Detector response to stable visible particles (pid [n], charge [n], p4 [n, 4])."""
    pt, eta, phi, p, e = kinematics(p4)
    Xtrk, trk_idx = _tracks(pid, q, pt, eta, phi, p, rng)
    Xcl, share = _cluster(_showers(pid, q, pt, eta, phi, p, e, rng), len(pid), rng)
    track_of = -np.ones(len(pid), dtype=int)
    track_of[trk_idx] = np.arange(len(trk_idx))
    return DetectorOutput(np.concatenate([Xtrk, Xcl]), track_of, share, len(trk_idx))
