"""Bad input of every kind ends before Ray starts: exit status 2 and one line ``FILE: KEY: problem``.

Each case is a small edit of a valid experiment that needs no data beside the repository (a
three-row learning-curve table written into ``tmp_path``), checked through ``python -m hpo.run
--space F --check`` in process; a few run as real subprocesses, the alias bomb under a memory cap.
"""
from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time

import pytest

from hpo import run

from conftest import PY, ROOT

BASE = """\
name: bad
trainable:
  name: replay
  args: {{table: {table}}}
metric: loss
mode: min
hyperparameters:
  row: {{type: int, low: 0, high: 2}}
  lr: {{type: loguniform, low: 1.0e-4, high: 1.0e-1}}
budget:
  num_samples: 4
  max_epochs: 3
storage: {storage}
"""


def _bomb(levels: int = 9) -> str:
    rows = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "bomb:\n" + "\n".join(rows) + "\n"


LR = "{type: loguniform, low: 1.0e-4, high: 1.0e-1}"
ROW = "{type: int, low: 0, high: 2}"
HP = "hyperparameters"


def _storage(value):
    return lambda t: t[:t.index("storage:")] + f"storage: {value(t) if callable(value) else value}\n"


def _under_table(t):  # the table is a file: a folder cannot be made under it
    return t.split("table: ", 1)[1].split("}", 1)[0] + "/results"


def _nest(n, opening="[", closing="]"):
    return ("mode: min\n", "mode: min\nx: " + opening * n + closing * n + "\n")


# (id, edit of the base text: (old, new) or a function of it, expected key, expected words)
CASES = [
    ("dup-top-key", ("budget:\n", "budget: {num_samples: 2}\nbudget:\n"), "budget",
     "duplicate key at line 11 (first at line 10)"),
    ("dup-hyperparameter", ("  lr: {", "  row: {type: uniform, low: 0, high: 1}\n  lr: {"), f"{HP}.row",
     "duplicate key at line 9 (first at line 8)"),
    ("dup-nested-key", ("  max_epochs: 3\n", "  max_epochs: 3\n  max_epochs: 2\n"), "budget.max_epochs",
     "duplicate key"),
    ("dup-in-flow-mapping", (ROW, "{type: int, low: 0, low: 1, high: 2}"), f"{HP}.row.low", "duplicate key"),
    ("alias-bomb", lambda t: t + _bomb(), "bomb.a5", "aliases expand it to more than 100000 values"),
    ("recursive-alias", ("  args: {", "  extra: &r [1, *r]\n  args: {"), "trainable.extra[1]", "recursive alias"),
    ("deep-nesting", _nest(80), None, "nested deeper than 64 levels (line 7)"),
    ("parser-deep-nesting", _nest(300_000), None, "nested deeper than 64 levels (line 7)"),
    ("flow-mapping-deep-nesting", _nest(100_000, "{a: ", "}"), None, "nested deeper than 64 levels (line 7)"),
    ("block-deep-nesting", ("mode: min\n", "mode: min\nx:\n" + "- " * 300_000 + "1\n"), None,
     "nested deeper than 64 levels (line 8)"),
    ("too-large", lambda t: t + "#" * (1 << 20) + "\n", None, "larger than 1024 KiB"),
    ("many-values", lambda t: t + "x:\n" + "- 1\n" * 100_001, "x", "it holds more than 100000 values"),
    ("not-utf8", lambda t: t.encode() + b"# \xff\xfe\n", None, "not UTF-8"),
    ("two-documents", lambda t: t + "---\nname: other\n", None, "malformed YAML"),
    ("malformed", ("mode: min\n", "mode: [min\n"), None, "malformed YAML at line"),
    ("empty", lambda t: "", None, "must hold a mapping"),
    ("top-level-list", lambda t: "- 1\n- 2\n", None, "must hold a mapping"),
    ("int-high-1e308", ("high: 2}", "high: 1e308}"), f"{HP}.row.high", "within +-2**53"),
    ("int-high-2**60", ("high: 2}", f"high: {2**60}}}"), f"{HP}.row.high", "within +-2**53"),
    ("int-low-float", ("low: 0, high: 2", "low: 0.5, high: 2"), f"{HP}.row.low", "must be an integer"),
    ("uniform-1e308", (LR, "{type: uniform, low: -1e308, high: 1e308}"), f"{HP}.lr.low", "within +-1e+100"),
    ("uniform-inf", ("high: 1.0e-1}", "high: .inf}"), f"{HP}.lr.high", "finite number"),
    ("uniform-nan", ("low: 1.0e-4", "low: .nan"), f"{HP}.lr.low", "finite number"),
    ("loguniform-low-0", ("low: 1.0e-4", "low: 0"), f"{HP}.lr.low", "must be > 0"),
    ("loguniform-low-negative", ("low: 1.0e-4", "low: -1"), f"{HP}.lr.low", "must be > 0"),
    ("int-log-low-0", (ROW, "{type: int, low: 0, high: 2, log: true}"), f"{HP}.row.low", "> 0"),
    ("qloguniform-q-0", (LR, "{type: qloguniform, low: 1.0e-4, high: 1.0e-1, q: 0}"), f"{HP}.lr.q", "q must be > 0"),
    ("uniform-reversed", ("low: 1.0e-4, high: 1.0e-1", "low: 1.0e-1, high: 1.0e-4"), f"{HP}.lr.low", "below high"),
    ("choice-duplicates", (LR, "{type: choice, values: [1, 1]}"), f"{HP}.lr.values", "duplicates"),
    ("hyperparameter-name", ("  lr: {", "  2lr: {"), HP, "identifiers"),
    ("num-samples-1e9", ("num_samples: 4", "num_samples: 1e9"), "budget.num_samples", "must be an integer, not a float"),
    ("num-samples-float", ("num_samples: 4", "num_samples: 4.0"), "budget.num_samples", "must be an integer"),
    ("num-samples-huge", ("num_samples: 4", "num_samples: 100001"), "budget.num_samples", "less than or equal to 100000"),
    ("num-samples-0", ("num_samples: 4", "num_samples: 0"), "budget.num_samples", "greater than or equal to 1"),
    ("max-epochs-float", ("max_epochs: 3", "max_epochs: 3.0"), "budget.max_epochs", "must be an integer"),
    ("time-limit-inf", ("max_epochs: 3\n", "max_epochs: 3\n  time_limit_s: .inf\n"), "budget.time_limit_s", "finite"),
    ("cpus-inf", ("storage:", "resources: {cpus_per_worker: .inf}\nstorage:"), "resources.cpus_per_worker", "finite"),
    ("gpus-nan", ("storage:", "resources: {gpus_per_worker: .nan}\nstorage:"), "resources.gpus_per_worker", "finite"),
    ("seed-2**40", ("storage:", f"seed: {2**40}\nstorage:"), "seed", "below 2**32"),
    ("seed-float", ("storage:", "seed: 1e3\nstorage:"), "seed", "non-negative integer"),
    ("grid-times-samples", lambda t: t.replace(LR, "{type: grid, values: [1, 2, 3, 4]}").replace(
        "num_samples: 4", "num_samples: 30000"), "budget.num_samples", "make more than 100000 trials"),
    ("storage-proc", _storage("/proc/hpo_results"), "storage", "cannot write under /proc"),
    ("storage-under-file", _storage(_under_table), "storage", "is not a directory"),
    ("storage-not-text", _storage("[a, b]"), "storage", "directory path"),
    ("unknown-top-key", ("mode: min\n", "mode: min\ncolour: red\n"), "colour", "unknown key"),
    ("mode", ("mode: min", "mode: minimise"), "mode", "'min' or 'max'"),
    ("name-with-slash", ("name: bad", "name: ../bad"), "name", "letters, digits"),
    ("metric-empty", ("metric: loss", "metric: ''"), "metric", "metric name"),
    ("misspelt-trainable", ("trainable:\n", "trainables:\n"), "trainables", "unknown key"),
]
# (id, extra CLI flags, expected key, expected words): the same promise for flags
FLAG_CASES = [
    ("dashboard-host-999", ["--dashboard-host", "999.999.1.1"], "dashboard_host", "neither an IP address"),
    ("dashboard-host-space", ["--dashboard-host", "my host"], "dashboard_host", "neither an IP address"),
    ("address-syntax", ["--address", "head-node"], "address", "cannot parse address"),
    ("address-port-0", ["--address", "127.0.0.1:0"], "address", "cannot parse address"),
    ("address-bad-ip", ["--address", "999.999.1.1:6379"], "address", "cannot parse address"),
    ("address-closed-port", None, "address", "no Ray cluster answers"),  # port filled in at run time
    ("num-samples-flag", ["--num-samples", "0"], "budget.num_samples", "greater than or equal to 1"),
    ("num-samples-flag-huge", ["--num-samples", "1000000"], "budget.num_samples", "less than or equal"),
    ("storage-flag-proc", ["--storage", "/proc"], "storage", "cannot write under /proc"),
    ("seed-flag", ["--seed", "-1"], "seed", "non-negative"),
]


@pytest.fixture
def base(tmp_path):
    table = tmp_path / "curves.csv"
    table.write_text("lr,loss_0,loss_1,loss_2\n0.1,3,2,1\n0.2,4,3,2\n0.3,5,4,3\n")
    return BASE.format(table=table, storage=tmp_path / "results")


def _apply(text: str, edit) -> str | bytes:
    if callable(edit):
        return edit(text)
    old, new = edit
    assert old in text, old
    return text.replace(old, new, 1)


def _check_one_line(tmp_path, capsys, argv, key, words) -> str:
    rc = run.main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("hpo: error: "), err
    assert "Traceback" not in err
    if key:
        assert f": {key}: " in lines[0], lines[0]
    assert words in lines[0], lines[0]
    assert not (tmp_path / "results").exists()
    return lines[0]


def test_base_is_valid(tmp_path, base, capsys):
    p = tmp_path / "space.yaml"
    p.write_text(base)
    assert run.main(["--space", str(p), "--check"]) == 0, capsys.readouterr().err
    assert not (tmp_path / "results").exists()  # --check probes storage without creating it


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_file_exit_2_one_line(tmp_path, base, capsys, case):
    _, edit, key, words = case
    text = _apply(base, edit)
    p = tmp_path / "space.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    line = _check_one_line(tmp_path, capsys, ["--space", str(p), "--check"], key, words)
    assert line.startswith(f"hpo: error: {p}: "), line


@pytest.mark.parametrize("case", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_bad_flag_exit_2_one_line(tmp_path, base, capsys, case):
    name, flags, key, words = case
    if flags is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        flags = ["--address", f"127.0.0.1:{port}"]  # closed again: refused at once
    p = tmp_path / "space.yaml"
    p.write_text(base)
    _check_one_line(tmp_path, capsys, ["--space", str(p), "--check", *flags], key, words)


def _limit_memory():  # 4 GiB of address space: imports fit, an expanded alias bomb does not
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS")
def test_alias_bomb_subprocess_under_memory_cap(tmp_path, base):
    p = tmp_path / "bomb.yaml"
    p.write_text(base + _bomb(12))  # 9**12 values if expanded
    t0 = time.monotonic()
    proc = subprocess.run([PY, "-m", "hpo.run", "--space", str(p), "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, preexec_fn=_limit_memory)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "aliases expand it to more than 100000 values" in lines[0], proc.stderr
    assert time.monotonic() - t0 < 60
