"""Search-space files: every shipped file validates; bad input gives one line naming file and key."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hpo import config
from hpo.errors import ConfigError
from hpo.space import Choice, IntRange, Uniform

from conftest import MLPF_TABLE, ROOT, run_cli

SPACES = sorted((ROOT / "search_spaces").glob("*.yaml"))
REQUIRED = {"mlpf_gnn.yaml", "mlpf_transformer.yaml", "ucluster.yaml", "mlpf_delphes_replay.yaml"}


def test_required_spaces_are_shipped():
    assert REQUIRED <= {p.name for p in SPACES}


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.name)
def test_shipped_space_validates(path):
    cfg = config.load(path)
    assert cfg.space and cfg.budget.max_epochs >= 1
    assert cfg.metric and cfg.mode in ("min", "max")


def test_name_resolves_inside_search_spaces(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config.load("mlpf_delphes_replay.yaml")
    assert cfg.source.endswith("search_spaces/mlpf_delphes_replay.yaml")
    assert Path(cfg.trainable_args["table"]).is_file()


def _replay_doc() -> dict:
    doc = yaml.safe_load((ROOT / "search_spaces" / "mlpf_delphes_replay.yaml").read_text())
    doc["trainable"]["args"]["table"] = str(MLPF_TABLE)
    return doc


def _write(tmp_path, doc) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return p


def _set(doc, dotted, value):
    d = doc
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    if value is _DELETE:
        del d[keys[-1]]
    else:
        d[keys[-1]] = value
    return doc


_DELETE = object()
BAD = [  # (dotted key to change, new value, expected key in message, expected words)
    ("budget.num_samples", "ten", "budget.num_samples", "integer"),
    ("budget.num_samples", -3, "budget.num_samples", "greater than or equal to 1"),
    ("budget.max_epochs", 0, "budget.max_epochs", "greater than or equal"),
    ("budget.max_epochs", True, "budget.max_epochs", "number"),
    ("budget.epochs", 5, "budget.epochs", "unknown key"),
    ("colour", "red", "colour", "unknown key"),
    ("mode", "minimise", "mode", "'min' or 'max'"),
    ("hyperparameters.row", {"type": "normal", "low": 0, "high": 1}, "hyperparameters.row.type", "unknown distribution"),
    ("hyperparameters.row", {"type": "int", "low": 5, "high": 5}, "hyperparameters.row.low", "below high"),
    ("hyperparameters.row", {"type": "int", "low": 9, "high": 2}, "hyperparameters.row.low", "below high"),
    ("hyperparameters.row", {"type": "loguniform", "low": 0, "high": 1}, "hyperparameters.row.low", "> 0"),
    ("hyperparameters.row", {"type": "choice", "values": []}, "hyperparameters.row.values", "non-empty"),
    ("hyperparameters.row", {"type": "int", "low": 0}, "hyperparameters.row.high", "needs high"),
    ("hyperparameters.row", {"type": "uniform", "low": 0, "high": 1, "step": 2}, "hyperparameters.row.step", "unknown key"),
    ("hyperparameters", {}, "hyperparameters", "non-empty"),
    ("scheduler", {"name": "magic"}, "scheduler.name", "unknown scheduler"),
    ("search", {"name": "annealing"}, "search.name", "unknown searcher"),
    ("predictor", {"name": "gp"}, "predictor.name", "unknown predictor"),
    ("search", {"name": "random", "n_startup_trials": 3}, "search.n_startup_trials", "does not take"),
    ("search", {"name": "tpe", "n_startup_trials": 0}, "search.n_startup_trials", "positive integer"),
    ("resources.workers_per_trial", 0, "resources.workers_per_trial", "greater than or equal to 1"),
    ("resources.gpus", 1, "resources.gpus", "unknown key"),
    ("trainable.name", "no_such_model", "trainable.name", "unknown trainable"),
    ("trainable.name", "no_such_module_xyz:train", "trainable.name", "cannot import"),
    ("trainable.args.table", "/nonexistent/curves.csv", "trainable.args.table", "not found"),
    ("trainable.args.speed", 3, "trainable.args.speed", "unknown argument"),
    ("budget.max_epochs", 500, "budget.max_epochs", "exceeds"),
    ("seed", -1, "seed", "non-negative"),
]


@pytest.mark.parametrize("key,value,where,words", BAD, ids=[b[0] + "=" + repr(b[1])[:20] for b in BAD])
def test_bad_input_names_file_key_problem(tmp_path, key, value, where, words):
    doc = _set(_replay_doc(), key, value)
    p = _write(tmp_path, doc)
    with pytest.raises(ConfigError) as err:
        config.load(p)
    line = err.value.one_line()
    assert line.startswith(str(p)), line
    assert f": {where}:" in line, line
    assert words in line, line
    assert "\n" not in line


def test_grid_distribution_rejected_by_tpe(tmp_path):
    doc = _replay_doc()
    doc["hyperparameters"]["row"] = {"type": "grid", "values": [1, 2, 3]}
    doc["search"] = {"name": "tpe"}
    with pytest.raises(ConfigError, match="hyperparameters.row: searcher 'tpe' cannot handle distribution 'grid'"):
        config.load(_write(tmp_path, doc))


def test_grid_searcher_rejects_continuous(tmp_path):
    doc = _replay_doc()
    doc["hyperparameters"]["x"] = {"type": "uniform", "low": 0, "high": 1}
    doc["search"] = {"name": "grid"}
    with pytest.raises(ConfigError, match="hyperparameters.x: searcher 'grid' cannot handle"):
        config.load(_write(tmp_path, doc))


def test_malformed_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"malformed YAML at line 3, column 1"):
        config.load(_write(tmp_path, "name: x\nhyperparameters: {a: [1, 2\n"))
    with pytest.raises(ConfigError, match="search-space file not found"):
        config.load(tmp_path / "nope.yaml")


def test_scientific_notation_without_dot_is_a_float(tmp_path):
    doc = _replay_doc()
    text = yaml.safe_dump(doc) + "\n"
    text = text.replace("hyperparameters:\n", "hyperparameters:\n  lr: {type: loguniform, low: 1e-4, high: 1e-1}\n")
    cfg = config.load(_write(tmp_path, text))
    assert cfg.space["lr"] == Uniform(1e-4, 1e-1, log=True)


def test_overrides_take_precedence():
    cfg = config.load("mlpf_delphes_replay.yaml")
    out = config.apply_overrides(cfg, num_samples=3, max_epochs=7, search="tpe", seed=11, max_concurrent=1,
                                 name="x", storage="/tmp/s")
    assert (out.budget.num_samples, out.budget.max_epochs, out.search.name, out.seed) == (3, 7, "tpe", 11)
    assert (out.resources.max_concurrent, out.name, out.storage) == (1, "x", "/tmp/s")
    assert out.trainable_args == cfg.trainable_args
    with pytest.raises(ConfigError, match="budget.max_epochs"):
        config.apply_overrides(cfg, max_epochs=-1)


def test_int_range_is_inclusive():
    d = IntRange(0, 3)
    assert d.grid_values() == [0, 1, 2, 3]
    from hpo.ray.space import to_tune

    assert to_tune(d).upper == 4  # Ray's randint excludes its upper bound
    assert Choice((1, 2), grid=True).as_dict() == {"type": "grid", "values": [1, 2]}


def test_cli_bad_input_exit_2_one_line_nothing_started(tmp_path):
    doc = _set(_replay_doc(), "budget.num_samples", -1)
    p = _write(tmp_path, doc)
    storage = tmp_path / "results"
    proc = run_cli("--space", str(p), "--storage", str(storage), timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "budget.num_samples" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not storage.exists()
    proc = run_cli("--space", "missing.yaml", timeout=120)
    assert proc.returncode == 2 and "search-space file not found" in proc.stderr


# ---------------------------------------------------------------- fuzzing
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5))
_value = st.recursive(_scalar, lambda c: st.one_of(st.lists(c, max_size=3),
                                                  st.dictionaries(st.text(max_size=6), c, max_size=3)), max_leaves=8)
_keys = st.sampled_from(sorted(config.TOP_KEYS) + ["other"])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _value, max_size=6))
def test_fuzz_loader_never_escapes_a_traceback(doc):
    try:
        config.from_dict(doc, source="fuzz.yaml")
    except ConfigError as exc:
        assert exc.one_line().startswith("fuzz.yaml")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["hyperparameters.row", "budget", "resources", "scheduler", "search", "trainable"]), _value)
def test_fuzz_one_section_of_a_good_file(section, value):
    doc = copy.deepcopy(_replay_doc())
    _set(doc, section, value)
    try:
        config.from_dict(doc, source="fuzz.yaml")
    except ConfigError:
        pass


def test_ragged_learning_curve_table_is_bad_input(tmp_path):
    table = tmp_path / "ragged.csv"
    table.write_text("lr,loss_0,loss_1\n0.1,3.0,2.0\n0.2,3.5\n")
    doc = _replay_doc()
    doc["trainable"]["args"]["table"] = str(table)
    doc["budget"]["max_epochs"] = 2
    with pytest.raises(ConfigError, match=r"trainable.args.table: .*line 3 has 2 fields, the header has 3"):
        config.load(_write(tmp_path, doc))


def test_qpu_without_credentials_is_bad_input(tmp_path, monkeypatch):
    monkeypatch.delenv("DWAVE_API_TOKEN", raising=False)
    monkeypatch.setenv("DWAVE_CONFIG_FILE", str(tmp_path / "none.conf"))
    doc = _replay_doc()
    doc["scheduler"] = {"name": "swift"}
    doc["predictor"] = {"name": "qsvr", "sampler": "qpu"}
    with pytest.raises(ConfigError) as err:
        config.load(_write(tmp_path, doc))
    line = err.value.one_line()
    assert ": predictor.sampler: sampler 'qpu' needs" in line, line  # never a silent switch to SA


def test_missing_data_path_is_bad_input(tmp_path):
    doc = yaml.safe_load((ROOT / "search_spaces" / "mlpf_gnn.yaml").read_text())
    doc["trainable"]["args"]["data_dir"] = str(tmp_path / "no_such_shards")
    with pytest.raises(ConfigError, match="trainable.args.data_dir"):
        config.load(_write(tmp_path, doc))


def test_overrides_are_merged_before_validation(tmp_path):
    table = tmp_path / "short.csv"
    table.write_text("lr,loss_0,loss_1,loss_2,loss_3\n0.1,4,3,2,1\n0.2,5,4,3,2\n")
    doc = _replay_doc()
    doc["trainable"]["args"]["table"] = str(table)
    doc["hyperparameters"]["row"] = {"type": "int", "low": 0, "high": 1}
    p = _write(tmp_path, doc)  # the file asks for 100 epochs; the table has 4
    with pytest.raises(ConfigError, match="max_epochs 100 exceeds the 4 epochs"):
        config.load(p)
    assert config.load(p, max_epochs=4).budget.max_epochs == 4
