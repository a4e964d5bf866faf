"""Per-element truth targets built with the CLIC MLPF recipe (arXiv:2309.06782, data post-processing).

1. a stable generator particle is *visible* when it has a track or left > 5% of its energy in clusters;
2. visible particles, in descending energy, take their best free track, else their best free cluster
   (largest deposited energy);
3. particles left without an element are merged (four-vector sum) into the particle owning the cluster
   where they deposited most;
4. track targets get charged classes (electron, muon, else charged hadron) with the particle's charge,
   cluster targets neutral ones (e/gamma -> photon, else neutral hadron) with charge 0; elements without a
   target are class 0.
"""
from __future__ import annotations

import numpy as np

from .detector import DetectorOutput, kinematics
from .schema import N_TARGETS, PDG_TO_CLASS

VISIBLE_FRACTION = 0.05


def assign_particles(energy: np.ndarray, det: DetectorOutput) -> tuple[np.ndarray, np.ndarray]:
    """Return (owner [n_elem] -> particle index or -1, element_of [n_particles] -> element or -1)."""
    share = det.deposit_share
    n_elem = det.n_tracks + share.shape[1]
    owner = -np.ones(n_elem, dtype=int)
    element_of = -np.ones(len(energy), dtype=int)
    for i in np.argsort(-energy, kind="stable"):
        t = det.track_of_particle[i]
        if t >= 0 and owner[t] < 0:
            owner[t] = i
            element_of[i] = t
            continue
        if share.shape[1] == 0 or share[i].sum() <= VISIBLE_FRACTION * energy[i]:
            continue
        for c in np.argsort(-share[i], kind="stable"):
            if share[i, c] <= 0:
                break
            if owner[det.n_tracks + c] < 0:
                owner[det.n_tracks + c] = i
                element_of[i] = det.n_tracks + c
                break
    return owner, element_of


def build_targets(pid: np.ndarray, q: np.ndarray, p4: np.ndarray, det: DetectorOutput) -> np.ndarray:
    """Targets [n_elem, 7] = (class, charge, pT, eta, sin phi, cos phi, E)."""
    owner, element_of = assign_particles(p4[:, 3], det)
    merged = p4.astype(np.float64).copy()
    share = det.deposit_share
    for i in np.where((element_of < 0) & (share.sum(axis=1) > 0))[0]:
        j = owner[det.n_tracks + int(np.argmax(share[i]))]
        if j >= 0:
            merged[j] += p4[i]
    pt, eta, phi, _, e = kinematics(merged)
    Y = np.zeros((len(owner), N_TARGETS))
    for el in np.where(owner >= 0)[0]:
        i = owner[el]
        a = abs(int(pid[i]))
        if el < det.n_tracks:
            pdg, charge = (a if a in (11, 13) else 211), q[i]
        else:
            pdg, charge = (22 if a in (11, 22) else 130), 0.0
        Y[el] = [PDG_TO_CLASS[pdg], charge, pt[i], eta[i], np.sin(phi[i]), np.cos(phi[i]), e[i]]
    return Y
