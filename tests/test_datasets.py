"""The learning-curve resolver (hpo.datasets): search order, the packaged MLPF table with its
licence, and one clear error for the benchmark-only LCBench tables."""
from __future__ import annotations

import hashlib
import logging

import pytest

from hpo import config, datasets
from hpo.datasets import DataNotFoundError, learning_curve_table, resolve_table
from hpo.errors import ConfigError
from hpo.bench.table import load_table

# sha256 of the upstream file (JP-Amboage/performance-pred data/mlpf/delphes_trainings_processed.csv)
MLPF_SHA256 = "83c7ae6933f20379d8edbb733dbc5a5a463009c99ecb3d6d906459c4c14d7fa6"


@pytest.fixture
def no_overrides(monkeypatch, tmp_path):
    """Neither $HPO_SHARED nor a shared folder beside the checkout: the fresh-clone situation."""
    monkeypatch.delenv("HPO_SHARED", raising=False)
    monkeypatch.setattr(datasets, "REPO_ROOT", tmp_path / "clone")
    return tmp_path


def test_packaged_table_is_found_without_anything_beside_the_clone(no_overrides):
    path = learning_curve_table("mlpf_delphes")
    assert path == datasets.PACKAGED_DIR / "mlpf_delphes.csv"
    table = load_table(str(path))
    assert table.n_rows == 296 and table.max_epochs == 100 and len(table.hyperparameters) == 7
    for name in ("LICENSE", "README.md"):
        assert (datasets.PACKAGED_DIR / name).is_file()
    assert "Apache License" in (datasets.PACKAGED_DIR / "LICENSE").read_text()
    assert "JP-Amboage/performance-pred" in (datasets.PACKAGED_DIR / "README.md").read_text()


def _shared_tree(root, name="mlpf_delphes.csv", text="a,loss_0\n1,2\n"):
    folder = root / "data" / "learning-curves"
    (folder / "lcbench").mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_search_order_explicit_then_env_then_beside_checkout_then_packaged(no_overrides, monkeypatch):
    tmp = no_overrides
    beside = _shared_tree(tmp / "shared")                       # tmp/shared beside tmp/clone
    (tmp / "clone").mkdir()
    (tmp / "clone" / "pyproject.toml").write_text("")
    assert learning_curve_table("mlpf_delphes") == beside
    env = _shared_tree(tmp / "elsewhere")
    monkeypatch.setenv("HPO_SHARED", str(tmp / "elsewhere"))
    assert learning_curve_table("mlpf_delphes") == env
    explicit = tmp / "mine.csv"
    explicit.write_text("a,loss_0\n1,2\n")
    assert learning_curve_table("mlpf_delphes", path=explicit) == explicit
    assert resolve_table(str(explicit)) == explicit and resolve_table("mlpf_delphes") == env


def test_env_override_without_the_table_is_logged_and_falls_through(no_overrides, monkeypatch, caplog):
    monkeypatch.setenv("HPO_SHARED", str(no_overrides / "empty"))
    with caplog.at_level(logging.WARNING, logger="hpo.datasets"):
        assert learning_curve_table("mlpf_delphes") == datasets.PACKAGED_DIR / "mlpf_delphes.csv"
    assert "HPO_SHARED is set but" in caplog.text


def test_missing_lcbench_table_says_where_to_get_it(no_overrides):
    with pytest.raises(DataNotFoundError) as err:
        learning_curve_table("lcbench_3945")
    msg = str(err.value)
    assert "\n" not in msg and "lcbench_3945" in msg and "YAHPO Gym" in msg and "HPO_SHARED" in msg


def test_lcbench_table_is_read_from_the_shared_folder(no_overrides, monkeypatch):
    path = _shared_tree(no_overrides / "s", name="lcbench/lcbench_3945.csv")
    monkeypatch.setenv("HPO_SHARED", str(no_overrides / "s"))
    assert resolve_table("lcbench_3945") == path


def test_unknown_name_and_missing_path_are_clear(no_overrides):
    with pytest.raises(DataNotFoundError, match="unknown learning-curve table 'nope'"):
        learning_curve_table("nope")
    with pytest.raises(DataNotFoundError, match="not found: /nonexistent/x.csv"):
        resolve_table("/nonexistent/x.csv")


def test_replay_space_defaults_to_the_named_table(no_overrides):
    cfg = config.load("mlpf_delphes_replay.yaml")
    assert cfg.trainable_args["table"] == str(datasets.PACKAGED_DIR / "mlpf_delphes.csv")


def test_replay_space_with_a_missing_lcbench_table_is_one_config_line(no_overrides):
    with pytest.raises(ConfigError, match=r"trainable.args.table: learning-curve table 'lcbench_7593' not found"):
        config.from_dict({"trainable": {"name": "replay", "args": {"table": "lcbench_7593"}}, "metric": "loss",
                          "hyperparameters": {"row": {"type": "int", "low": 0, "high": 3}}})


def test_packaged_copy_is_the_published_file():
    digest = hashlib.sha256((datasets.PACKAGED_DIR / "mlpf_delphes.csv").read_bytes()).hexdigest()
    assert digest == MLPF_SHA256
