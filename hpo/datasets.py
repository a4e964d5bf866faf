"""Where learning-curve tables come from: one resolver for the code, the benchmarks and the tests.

``learning_curve_table(name)`` returns the path of a named table, looking in this order:

1. an explicit ``path`` (must exist);
2. ``$HPO_SHARED/data/learning-curves/`` (an optional override: a shared data folder);
3. ``shared/data/learning-curves/`` beside a source checkout (``../shared`` next to the repository);
4. the copy packaged in ``hpo/data/learning_curves/`` (only the published MLPF table is shipped).

Named tables: ``mlpf_delphes`` (296 published MLPF Delphes curves, Apache-2.0, packaged; see
``hpo/data/learning_curves/README.md``) and ``lcbench_<task>`` (YAHPO Gym LCBench surrogate curves,
benchmark-only, not packaged: a missing one raises ``DataNotFoundError`` saying where to get it).
``resolve_table(spec)`` accepts either a name or a path, for ``--table``/``trainable.args.table``.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGED_DIR = Path(__file__).resolve().parent / "data" / "learning_curves"
REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_SUBDIR = Path("data") / "learning-curves"
PACKAGED = {"mlpf_delphes": "mlpf_delphes.csv"}
_LCBENCH = re.compile(r"^lcbench_(\d+)$")
LCBENCH_HELP = (
    "LCBench tables are benchmark-only data and are not shipped with hpo: put lcbench/lcbench_<task>.csv "
    "(and .seconds.csv) under $HPO_SHARED/data/learning-curves/ (or ../shared/data/learning-curves/ beside "
    "the checkout). They are curves sampled from the YAHPO Gym 'lcbench' surrogate (the lcbench/ folder of "
    "github.com/slds-lmu/yahpo_data, Apache-2.0; Pfisterer et al., AutoML-Conf 2022) on LCBench's space "
    "(Zimmer et al., IEEE TPAMI 2021), in the replay-table format: hyperparameter columns, then loss_0 ... loss_N")


class DataNotFoundError(FileNotFoundError):
    """A named data set is in none of the places the resolver looks; the message says where to get it."""


def _relative(name: str) -> Path:
    if name in PACKAGED:
        return Path(PACKAGED[name])
    if _LCBENCH.match(name):
        return Path("lcbench") / f"{name}.csv"
    known = ", ".join([*PACKAGED, "lcbench_<task>"])
    raise DataNotFoundError(f"unknown learning-curve table {name!r}; named tables are {known} "
                            "(or give a path to a CSV file)")


def search_dirs() -> list[tuple[str, Path]]:
    """The folders looked at, in order, as (label, folder)."""
    dirs: list[tuple[str, Path]] = []
    shared = os.environ.get("HPO_SHARED")
    if shared:
        dirs.append(("$HPO_SHARED", Path(shared).expanduser() / SHARED_SUBDIR))
    if (REPO_ROOT / "pyproject.toml").is_file():  # a source checkout, not an installed wheel
        dirs.append(("../shared beside the checkout", REPO_ROOT.parent / "shared" / SHARED_SUBDIR))
    dirs.append(("packaged copy", PACKAGED_DIR))
    return dirs


def learning_curve_table(name: str = "mlpf_delphes", path: str | os.PathLike | None = None) -> Path:
    """Path of the learning-curve table ``name`` (see the module docstring for the search order)."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DataNotFoundError(f"learning-curve table not found: {p}")
        return p
    rel = _relative(name)
    looked = []
    for label, folder in search_dirs():
        candidate = folder / rel
        if candidate.is_file():
            log.debug("learning-curve table %s: %s (%s)", name, candidate, label)
            return candidate
        if label == "$HPO_SHARED":
            log.warning("HPO_SHARED is set but %s is not there; looking further", candidate)
        looked.append(str(candidate))
    where = "; looked at " + ", ".join(looked)
    if _LCBENCH.match(name):
        raise DataNotFoundError(f"learning-curve table {name!r} not found{where}. {LCBENCH_HELP}")
    raise DataNotFoundError(f"learning-curve table {name!r} not found{where} (is the package installed "
                            "completely? hpo/data/learning_curves/ ships it)")


def is_table_name(spec: str) -> bool:
    """True when ``spec`` names a table (``mlpf_delphes``, ``lcbench_3945``) rather than a file path."""
    return spec in PACKAGED or bool(_LCBENCH.match(spec))


def resolve_table(spec: str | os.PathLike) -> Path:
    """A table name or a file path (``--table`` and ``trainable.args.table`` take either)."""
    s = os.fspath(spec)
    if is_table_name(s):
        return learning_curve_table(s)
    return learning_curve_table(path=s)
