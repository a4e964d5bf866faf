"""Rule-based particle-flow baseline on the same elements (the reference an MLPF model must beat).

A minimal version of the classic particle-flow idea (ALEPH / CMS PF, Pandora at CLIC): every track
becomes a charged candidate with the track momentum; every cluster becomes a neutral candidate with its
energy minus the momenta of the tracks whose (bent) extrapolation points at it (dR < 0.05), kept when
the remainder exceeds max(0.5 GeV, one calorimeter sigma).  Photon if the cluster is ECAL-dominated,
else neutral hadron.
"""
from __future__ import annotations

import numpy as np

from .detector import bending
from .schema import CLUSTER, COL_COS, COL_E, COL_ETA, COL_PT, COL_SIN, COL_TYPE, PDG_TO_CLASS, TRACK

LINK_DR = 0.05


def baseline_candidates(X: np.ndarray) -> dict[str, np.ndarray]:
    """Candidates of one event from elements [n, 17]: arrays pt, eta, phi, energy, cls (class index)."""
    trk = X[X[:, COL_TYPE] == TRACK]
    cl = X[X[:, COL_TYPE] == CLUSTER]
    tphi = np.arctan2(trk[:, COL_SIN], trk[:, COL_COS])
    charge = np.sign(trk[:, 13])
    phi_at_calo = tphi - charge * bending(trk[:, COL_PT])
    cphi = np.arctan2(cl[:, COL_SIN], cl[:, COL_COS])
    e_left = cl[:, COL_E].astype(np.float64).copy()
    if len(cl):
        for k in range(len(trk)):
            dphi = (cphi - phi_at_calo[k] + np.pi) % (2 * np.pi) - np.pi
            dr = np.hypot(cl[:, COL_ETA] - trk[k, COL_ETA], dphi)
            c = int(np.argmin(dr))
            if dr[c] < LINK_DR:
                e_left[c] -= trk[k, COL_E]
    sigma = np.sqrt(0.17 ** 2 * np.maximum(cl[:, 10], 0) + 0.55 ** 2 * np.maximum(cl[:, 11], 0)) + 0.05
    keep = e_left > np.maximum(0.5, sigma)
    photon = cl[:, 10] > 0.9 * np.maximum(cl[:, COL_E], 1e-9)
    n_cls = np.where(photon, PDG_TO_CLASS[22], PDG_TO_CLASS[130])[keep]
    t_cls = np.full(len(trk), PDG_TO_CLASS[211])
    return {"pt": np.concatenate([trk[:, COL_PT], e_left[keep] / np.cosh(cl[keep, COL_ETA])]),
            "eta": np.concatenate([trk[:, COL_ETA], cl[keep, COL_ETA]]),
            "phi": np.concatenate([tphi, cphi[keep]]),
            "energy": np.concatenate([trk[:, COL_E], e_left[keep]]),
            "cls": np.concatenate([t_cls, n_cls])}
