"""``python -m hpo.bench`` end to end on the MLPF table (small: 1 seed, R = 35)."""
from __future__ import annotations

import csv

from hpo.bench.__main__ import main


def test_bench_cli_writes_markdown_and_csv(tmp_path, mlpf_table):
    out = tmp_path / "bench.md"
    rc = main(["--table", str(mlpf_table), "--schedulers", "hyperband,swift,asha", "--seeds", "2",
               "--max-epochs", "35", "--eta", "2", "--out", str(out)])
    assert rc == 0
    text = out.read_text()
    assert "python -m hpo.bench --table" in text and "-core CPU" in text and "no GPU" in text
    assert "| mean | 872.0 |" in text  # plain Hyperband, R = 35: exactly 872 epochs per run
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert {r["scheduler"] for r in rows} == {"hyperband", "swift", "asha"} and len(rows) == 6
    assert all(int(r["epochs"]) < 872 for r in rows if r["scheduler"] == "swift")
