"""Reader and writer for the HLS4ML LHC jet-data HDF5 layout (Zenodo 3602254, Duarte et al.,
JINST 13 (2018) P07027; Moreno et al., EPJC 80 (2020) 58).

A file holds
* ``jetConstituentList``  float [N, C, 16]  per-constituent columns named by ``particleFeatureNames``
  (px, py, pz, E, E/E_jet, pT, pT/pT_jet, eta, eta_rel, eta_rot, phi, phi_rel, phi_rot, deltaR,
  cos theta, cos theta_rel), zero-padded, sorted by decreasing pT;
* ``jets``                float [N, 59]     jet-level quantities named by ``jetFeatureNames``
  (``j_mass`` is the ungroomed mass, ``j_g, j_q, j_w, j_z, j_t`` the one-hot truth labels).

The generator in ``generate.py`` writes this layout, so generated and real files go through the same
``read_jets``.  Columns the generator does not compute (substructure variables) are NaN.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass

import h5py
import numpy as np

PARTICLE_FEATURES = ("j1_px", "j1_py", "j1_pz", "j1_e", "j1_erel", "j1_pt", "j1_ptrel", "j1_eta",
                     "j1_etarel", "j1_etarot", "j1_phi", "j1_phirel", "j1_phirot", "j1_deltaR",
                     "j1_costheta", "j1_costhetarel")
_SUBSTRUCTURE = [f"j_{v}_b{b}" for v in ("tau1", "tau2", "tau3") for b in (1, 2)]
JET_FEATURES = tuple(
    ["j_ptfrac", "j_pt", "j_eta", "j_mass"] + _SUBSTRUCTURE
    + ["j_tau32_b1", "j_tau32_b2", "j_zlogz", "j_c1_b0", "j_c1_b1", "j_c1_b2", "j_c2_b1", "j_c2_b2",
       "j_d2_b1", "j_d2_b2", "j_d2_a1_b1", "j_d2_a1_b2", "j_m2_b1", "j_m2_b2", "j_n2_b1", "j_n2_b2"]
    + [f"{n}_mmdt" for n in _SUBSTRUCTURE]
    + ["j_tau32_b1_mmdt", "j_tau32_b2_mmdt", "j_c1_b0_mmdt", "j_c1_b1_mmdt", "j_c1_b2_mmdt",
       "j_c2_b1_mmdt", "j_c2_b2_mmdt", "j_d2_b1_mmdt", "j_d2_b2_mmdt", "j_d2_a1_b1_mmdt",
       "j_d2_a1_b2_mmdt", "j_m2_b1_mmdt", "j_m2_b2_mmdt", "j_n2_b1_mmdt", "j_n2_b2_mmdt"]
    + ["j_mass_trim", "j_mass_mmdt", "j_mass_prun", "j_mass_sdb2", "j_mass_sdm1", "j_multiplicity",
       "j_g", "j_q", "j_w", "j_z", "j_t", "j_index"])
assert len(PARTICLE_FEATURES) == 16 and len(JET_FEATURES) == 59
LABEL_NAMES = ("j_g", "j_q", "j_w", "j_z", "j_t")
#: the three UCluster classes, in the order of the integer labels 0, 1, 2
CLASSES = ("j_w", "j_z", "j_t")


@dataclass
class JetArrays:
    """Columns a UCluster run needs, read from one or more HLS4ML-layout files."""

    constituents: np.ndarray  # [N, C, 16] float32
    mass: np.ndarray          # [N] ungroomed jet mass, GeV
    pt: np.ndarray            # [N] jet pT, GeV
    label: np.ndarray         # [N] int: index into CLASSES, -1 for other classes (g, q)
    mass_sd: np.ndarray | None = None  # [N] soft-drop (mMDT) mass ``j_mass_mmdt``, GeV, where the file has it

    def __len__(self) -> int:
        return len(self.mass)

    def subset(self, index) -> "JetArrays":
        return JetArrays(self.constituents[index], self.mass[index], self.pt[index], self.label[index],
                         None if self.mass_sd is None else self.mass_sd[index])


def write_jets(path: str, constituents: np.ndarray, jets: np.ndarray) -> None:
    """Write ``[N,C,16]`` constituents and ``[N,59]`` jet rows atomically (tmp file + rename)."""
    if constituents.ndim != 3 or constituents.shape[2] != 16:
        raise ValueError(f"jetConstituentList must be [N, C, 16], got {constituents.shape}")
    if jets.shape != (len(constituents), len(JET_FEATURES)):
        raise ValueError(f"jets must be [N, {len(JET_FEATURES)}], got {jets.shape}")
    tmp = f"{path}.tmp{os.getpid()}"
    with h5py.File(tmp, "w") as fh:
        fh.create_dataset("jetConstituentList", data=constituents.astype(np.float32), compression="gzip")
        fh.create_dataset("jets", data=jets.astype(np.float32))
        fh.create_dataset("jetFeatureNames", data=np.array([n.encode() for n in JET_FEATURES]))
        fh.create_dataset("particleFeatureNames", data=np.array([n.encode() for n in PARTICLE_FEATURES]))
    os.replace(tmp, path)


def list_files(path: str) -> list[str]:
    """``path`` is one .h5 file or a directory of them (sorted, so the order is reproducible)."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.h5")) + glob.glob(os.path.join(path, "*.hdf5")))
    elif os.path.isfile(path):
        files = [path]
    else:
        files = []
    if not files:
        raise FileNotFoundError(f"no HLS4ML .h5 files at {path!r}")
    return files


def _names(fh: h5py.File, key: str, default: tuple[str, ...]) -> list[str]:
    if key not in fh:
        return list(default)
    return [n.decode() if isinstance(n, bytes) else str(n) for n in fh[key][()]]


def read_jets(path: str, max_jets: int | None = None) -> JetArrays:
    """Read the constituents, mass, pT and W/Z/top label from HLS4ML-layout file(s) at ``path``."""
    parts = []
    total = 0
    for f in list_files(path):
        with h5py.File(f, "r") as fh:
            for key in ("jetConstituentList", "jets"):
                if key not in fh:
                    raise ValueError(f"{f}: missing dataset {key!r} (not an HLS4ML jet file)")
            pnames = _names(fh, "particleFeatureNames", PARTICLE_FEATURES)
            if pnames[:16] != list(PARTICLE_FEATURES):
                raise ValueError(f"{f}: unexpected particleFeatureNames {pnames}")
            jnames = _names(fh, "jetFeatureNames", JET_FEATURES)
            n = len(fh["jets"]) if max_jets is None else min(len(fh["jets"]), max_jets - total)
            jets = fh["jets"][:n]
            cons = fh["jetConstituentList"][:n, :, :16].astype(np.float32)
        col = {name: i for i, name in enumerate(jnames)}
        onehot = jets[:, [col[c] for c in CLASSES]]
        label = np.where(onehot.max(1) > 0.5, onehot.argmax(1), -1).astype(np.int64)
        parts.append(JetArrays(cons, jets[:, col["j_mass"]].astype(np.float64),
                               jets[:, col["j_pt"]].astype(np.float64), label,
                               jets[:, col["j_mass_mmdt"]].astype(np.float64) if "j_mass_mmdt" in col else None))
        total += n
        if max_jets is not None and total >= max_jets:
            break
    sd = None if any(p.mass_sd is None for p in parts) else np.concatenate([p.mass_sd for p in parts])
    return JetArrays(np.concatenate([p.constituents for p in parts]), np.concatenate([p.mass for p in parts]),
                     np.concatenate([p.pt for p in parts]), np.concatenate([p.label for p in parts]), sd)
