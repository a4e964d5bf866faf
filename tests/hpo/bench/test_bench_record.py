"""Curve recorder (``python -m hpo.bench record``): writes a table that load_table reads back."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import hpo
from hpo.bench.__main__ import main
from hpo.bench.record import record, sample_configs
from hpo.bench.synthetic import synthetic_table
from hpo.space import parse_space
from hpo.bench.table import load_table, write_table


@pytest.fixture()
def source(tmp_path):
    table = synthetic_table(rows=12, epochs=10, seed=2)
    path = tmp_path / "source.csv"
    write_table(table, path)
    space = tmp_path / "space.yaml"
    space.write_text(f"""name: rec
trainable: {{name: replay, args: {{table: {path}}}}}
metric: loss
mode: min
hyperparameters:
  row: {{type: int, low: 0, high: 11}}
budget: {{num_samples: 4, max_epochs: 6}}
seed: 3
""")
    return table, space


def test_record_cli_with_the_replay_trainable_reads_back(source, tmp_path):
    table, space = source
    out = tmp_path / "curves_rec.csv"
    assert main(["record", "--space", str(space), "--configs", "5", "--out", str(out)]) == 0
    rec = load_table(str(out))
    assert rec.hyperparameters == ("row",) and rec.n_rows == 5 and rec.max_epochs == 6
    rows = [int(r) for r in rec.params[:, 0]]
    assert rows == [c["row"] for c in sample_configs(parse_space({"row": {"type": "int", "low": 0, "high": 11}}),
                                                       5, 3)]
    # the replay trainable reads row r of the source: the recorded curves are its first 6 epochs
    np.testing.assert_allclose(rec.curves, table.curves[rows, :6])
    secs = list(csv.reader(open(out.with_suffix(".seconds.csv"))))
    assert secs[0] == [f"sec_{e}" for e in range(6)] and len(secs) == 6
    assert all(float(x) >= 0 for row in secs[1:] for x in row)
    md = out.with_suffix(".md").read_text()
    assert "python -m hpo.bench record --space" in md and "5 configurations trained to 6 epochs" in md


def tiny(config):
    """acc = x * (1 - 1/(e+1)) for mode max; NaN for x > 0.8; stops early for x < 0.1."""
    state = hpo.get_checkpoint() or {"e": 0}
    for e in range(state["e"], config["max_epochs"]):
        if config["x"] < 0.1 and e == 2:
            return
        acc = math.nan if config["x"] > 0.8 else config["x"] * (1 - 1 / (e + 1))
        hpo.report(acc=acc, checkpoint={"e": e + 1})


def test_record_maximised_metric_negated_and_bad_runs_left_out(source, tmp_path):
    _, space = source
    text = space.read_text().replace("metric: loss", "metric: acc").replace("mode: min", "mode: max") \
        .replace("row: {type: int, low: 0, high: 11}", "x: {type: uniform, low: 0.0, high: 1.0}\n"
                 "  act: {type: choice, values: [relu, elu]}")
    space.write_text(text)
    out = tmp_path / "t.csv"
    info = record(str(space), 12, str(out), max_epochs=4, trainable=tiny)
    configs = sample_configs(parse_space({"x": {"type": "uniform", "low": 0.0, "high": 1.0},
                                          "act": {"type": "choice", "values": ["relu", "elu"]}}), 12, 3)
    good = [c for c in configs if 0.1 <= c["x"] <= 0.8]
    assert info["rows"] == len(good) and len(info["dropped"]) == 12 - len(good) > 0
    rec = load_table(str(out))
    assert rec.hyperparameters == ("x", "act")
    np.testing.assert_allclose(rec.params[:, 0], [c["x"] for c in good])
    assert list(rec.params[:, 1]) == [float(["relu", "elu"].index(c["act"])) for c in good]
    expected = [[-c["x"] * (1 - 1 / (e + 1)) for e in range(4)] for c in good]
    np.testing.assert_allclose(rec.curves, expected)
    assert "left out" in out.with_suffix(".md").read_text()


def test_record_cli_rejects_bad_input(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert main(["record", "--space", str(missing), "--configs", "2", "--out", str(tmp_path / "x.csv")]) == 2
    with pytest.raises(SystemExit):
        main(["record", "--space", str(missing), "--configs", "0"])
