"""The YAML reader's limits refuse what hurts and keep what users write: anchors, aliases and merge
keys within bounds still load, and ``${VAR}`` expansion stays linear in the document."""
from __future__ import annotations

import time

import pytest

from hpo import config, yaml_loader
from hpo.errors import ConfigError


def _load(text: str):
    return yaml_loader.load_text(text, "f.yaml")


def test_anchors_aliases_and_merge_keys_still_load():
    doc = _load("base: &b {low: 0, high: 1}\n"
                "a: {<<: *b, type: uniform}\n"
                "c: {<<: *b, high: 5, type: uniform}\n"  # an explicit key overrides a merged one: no duplicate
                "d: [*b, *b]\n")
    assert doc["a"] == {"low": 0, "high": 1, "type": "uniform"}
    assert doc["c"] == {"low": 0, "high": 5, "type": "uniform"}
    assert doc["d"] == [{"low": 0, "high": 1}] * 2


def test_alias_expansion_just_under_the_limit_loads():
    # 10 * 10 * 10 * 10 = 10 000 leaves (about 11 000 values): shared, never copied
    text = "a: &a [" + ", ".join(["1"] * 10) + "]\n"
    for name, prev in (("b", "a"), ("c", "b"), ("d", "c")):
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    assert len(_load(text)["d"]) == 10


def test_alias_bomb_is_refused_without_expanding():
    text = "a: &a [" + ", ".join(["x"] * 9) + "]\n"
    for i, (name, prev) in enumerate(zip("bcdefghijklmn", "abcdefghijklm")):
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=r"^f.yaml: f: aliases expand it to more than 100000 values"):
        _load(text)
    assert len(text) < 1000 and time.monotonic() - t0 < 5


def test_duplicate_keys_name_the_key_and_both_lines():
    with pytest.raises(ConfigError) as err:
        _load("budget:\n  num_samples: 3\n  max_epochs: 4\n  num_samples: 5\n")
    assert err.value.one_line() == ("f.yaml: budget.num_samples: duplicate key at line 4 (first at line 2); "
                                    "YAML would silently keep the last one")


def test_keys_equal_after_parsing_are_duplicates():
    with pytest.raises(ConfigError, match="duplicate key at line 2"):
        _load("1: a\n0x1: b\n")  # both are the integer 1


def test_recursive_alias_is_refused():
    with pytest.raises(ConfigError, match="recursive alias"):
        _load("a: &a {b: *a}\n")


@pytest.mark.parametrize("text", ["x: " + "[" * 65 + "]" * 65, "x: " + "{a: " * 65 + "1" + "}" * 65,
                                  "- " * 65 + "1", "- " * 200_000 + "1"])
def test_deep_nesting_is_refused_before_composing(text):
    with pytest.raises(ConfigError, match="nested deeper than 64 levels"):
        _load(text)


def test_size_limit_is_checked_while_reading(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_bytes(b"a: 1\n" + b"#" * yaml_loader.MAX_BYTES)
    with pytest.raises(ConfigError, match=r"^.*big.yaml: file is larger than 1024 KiB"):
        config.load_yaml(p)
    p.write_bytes(b"a: 1\n" + b"#" * (yaml_loader.MAX_BYTES - 10) + b"\n")
    assert config.load_yaml(p) == {"a": 1}


def test_scientific_notation_without_dot_is_still_a_float():
    assert _load("lr: 1e-4\nn: 10\n") == {"lr": 1e-4, "n": 10}


def test_env_expansion_shares_what_the_document_shared(monkeypatch):
    monkeypatch.setenv("HPO_TEST_DIR", "/data")
    leaf = ["${HPO_TEST_DIR}/x", "${HPO_MISSING:-dflt}"]
    level = leaf
    for _ in range(30):  # 2**30 leaves if expanded copy by copy
        level = [level, level]
    t0 = time.monotonic()
    out = config._expand_env({"a": level, "b": level})
    assert time.monotonic() - t0 < 1
    assert out["a"] is out["b"]
    node = out["a"]
    for _ in range(30):
        assert node[0] is node[1]
        node = node[0]
    assert node == ["/data/x", "dflt"]
