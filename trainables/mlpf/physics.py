"""Physics metrics of a particle-flow reconstruction, as in the MLPF evaluation (arXiv:2309.06782).

Jets are clustered from reconstructed and from target particles with the e+e- generalised kT algorithm
(R = 0.4, p = -1, pT > 5 GeV; FastJet, Cacciari, Salam, Soyez, EPJC 72 (2012) 1896).  Each target jet
is matched to the closest reconstructed jet within dR < 0.1; the jet pT response pT_reco / pT_target is
summarised by its median and inter-quartile range (IQR = p75 - p25, the resolution), plus the fraction
of target jets matched.  MET = |sum of particle pT vectors|; MET response = MET_reco / MET_target for
events with MET_target > 5 GeV, and the IQR of MET_reco - MET_target (GeV) over all events.
"""
from __future__ import annotations

import numpy as np

from trainables.fastjet_quiet import cluster_sequence

JET_R, JET_PTMIN, MATCH_DR, MET_MIN = 0.4, 5.0, 0.1, 5.0
_JETDEF = None


def _jet_definition():
    global _JETDEF
    if _JETDEF is None:
        import fastjet as fj

        _JETDEF = fj.JetDefinition(fj.ee_genkt_algorithm, JET_R, -1.0)
    return _JETDEF


def cluster_jets(pt, eta, phi, energy, ptmin: float = JET_PTMIN) -> np.ndarray:
    """Jets [n_jets, 3] = (pT, eta, phi) of particles given as arrays (particles with pT <= 0 ignored)."""
    import fastjet as fj

    cols = [np.asarray(v, dtype=np.float64) for v in (pt, eta, phi, energy)]
    ok = (cols[0] > 0) & np.isfinite(np.stack(cols)).all(axis=0) if len(cols[0]) else np.zeros(0, bool)
    a, b, c, d = (v[ok] for v in cols)
    px, py, pz, e = a * np.cos(c), a * np.sin(c), a * np.sinh(b), np.maximum(d, a * np.cosh(b))
    pjs = [fj.PseudoJet(float(px[i]), float(py[i]), float(pz[i]), float(e[i])) for i in range(len(a))]
    if not pjs:
        return np.zeros((0, 3))
    seq = cluster_sequence(pjs, _jet_definition())
    return np.array([(j.pt(), j.eta(), j.phi_std()) for j in seq.inclusive_jets(ptmin)]).reshape(-1, 3)


def match_response(ref: np.ndarray, reco: np.ndarray, max_dr: float = MATCH_DR) -> list[float]:
    """pT ratios reco/ref for reference jets with a reco jet within ``max_dr``."""
    out = []
    for r in ref:
        if len(reco) == 0:
            break
        dphi = (reco[:, 2] - r[2] + np.pi) % (2 * np.pi) - np.pi
        dr = np.hypot(reco[:, 1] - r[1], dphi)
        k = int(np.argmin(dr))
        if dr[k] < max_dr:
            out.append(float(reco[k, 0] / r[0]))
    return out


def met(pt, phi) -> float:
    return float(np.hypot(np.sum(pt * np.cos(phi)), np.sum(pt * np.sin(phi))))


def median_iqr(x) -> tuple[float, float]:
    if len(x) == 0:
        return float("nan"), float("nan")
    q25, q50, q75 = np.percentile(np.asarray(x, dtype=float), [25, 50, 75])
    return float(q50), float(q75 - q25)


class ResponseAccumulator:
    """Collects jet and MET responses of one reconstruction against target particles, event by event."""

    def __init__(self):
        self.jet_ratios: list[float] = []
        self.n_ref_jets = 0
        self.met_ratios: list[float] = []
        self.met_deltas: list[float] = []

    def add(self, target: dict, reco: dict) -> None:
        """``target``/``reco``: dicts of arrays pt, eta, phi, energy (particles only)."""
        tj = cluster_jets(target["pt"], target["eta"], target["phi"], target["energy"])
        rj = cluster_jets(reco["pt"], reco["eta"], reco["phi"], reco["energy"])
        self.n_ref_jets += len(tj)
        self.jet_ratios += match_response(tj, rj)
        mt, mr = met(target["pt"], target["phi"]), met(reco["pt"], reco["phi"])
        self.met_deltas.append(mr - mt)
        if mt > MET_MIN:
            self.met_ratios.append(mr / mt)

    def get_state(self) -> dict:
        return {"jet_ratios": self.jet_ratios, "n_ref_jets": self.n_ref_jets, "met_ratios": self.met_ratios,
                "met_deltas": self.met_deltas}

    def set_state(self, state: dict) -> None:
        self.jet_ratios, self.n_ref_jets = list(state["jet_ratios"]), int(state["n_ref_jets"])
        self.met_ratios, self.met_deltas = list(state["met_ratios"]), list(state["met_deltas"])

    def merge(self, state: dict) -> None:
        self.jet_ratios += state["jet_ratios"]
        self.n_ref_jets += state["n_ref_jets"]
        self.met_ratios += state["met_ratios"]
        self.met_deltas += state["met_deltas"]

    def summary(self, prefix: str = "") -> dict[str, float]:
        jm, ji = median_iqr(self.jet_ratios)
        mm, mi = median_iqr(self.met_ratios)
        _, di = median_iqr(self.met_deltas)
        return {f"{prefix}jet_response_median": jm, f"{prefix}jet_response_iqr": ji,
                f"{prefix}jet_match_fraction": len(self.jet_ratios) / max(self.n_ref_jets, 1),
                f"{prefix}met_response_median": mm, f"{prefix}met_response_iqr": mi,
                f"{prefix}met_delta_iqr": di}


def target_particles(ygen: np.ndarray) -> dict[str, np.ndarray]:
    """Target particles of one event from ygen [n, 7]."""
    y = ygen[ygen[:, 0] > 0]
    return {"pt": y[:, 2], "eta": y[:, 3], "phi": np.arctan2(y[:, 4], y[:, 5]), "energy": y[:, 6],
            "cls": y[:, 0].astype(int)}
