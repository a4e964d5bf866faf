"""How well each rung of ``predictive`` ranks the final loss, per curve table (no simulation).

    python benchmarks/rung_ranks.py --out benchmarks/results/rung_ranks.md

For every table of ``predictive_defaults.py`` and the rungs ``predictive`` uses with its defaults
(``top_down_rungs(R, eta=3)``), over all rows of the table:

* Spearman correlation between the loss at the rung (as the stage models see it,
  ``hpo.schedulers.predictive.rung_loss``: the median of the rung's last 3 epochs) and the final
  loss, the ranking the rung's cut relies on;
* the same between the first two rungs, but only among the rows in the first rung's best third:
  what a stage model can measure from the trials it promoted;
* Pearson R² between the first rung's loss and the final loss: what a linear model on raw losses sees;
* how many rows are within 0.01 and within 0.1 normalised regret of the table's best.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predictive_defaults import emit, find_tables  # noqa: E402

from hpo.bench.table import CurveTable, load_table, normalised_finals  # noqa: E402
from hpo.schedulers.predictive import DEFAULTS, rung_loss, top_down_rungs  # noqa: E402


def table_row(table: CurveTable) -> dict:
    curves, final, regret = table.curves, table.curves[:, -1], normalised_finals(table)
    rungs = top_down_rungs(table.max_epochs, DEFAULTS["eta"])
    z = [np.array([rung_loss(row, m) for row in curves]) for m in rungs]
    top = z[0] <= np.quantile(z[0], 1 / 3)
    return {"rungs": rungs, "rho_final": [float(spearmanr(v, final)[0]) for v in z],
            "rho_top_third": float(spearmanr(z[0][top], z[1][top])[0]) if len(z) > 1 else float("nan"),
            "pearson_r2": float(np.corrcoef(z[0], final)[0, 1] ** 2),
            "near_best": int(np.sum(regret <= 0.01)), "within_0_1": int(np.sum(regret <= 0.1)),
            "rows": len(final)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    L = ["# How well each rung ranks the final loss", "",
         f"Command: `python benchmarks/rung_ranks.py{' --out ' + a.out if a.out else ''}` (no simulation; "
         "exact).", "", __doc__.split("\n\n", 2)[2].strip(), "",
         "| table | rows | rungs (epochs) | Spearman(rung loss, final) per rung | Spearman(rung 1, rung 2), "
         "best third at rung 1 | Pearson R²(rung 1, final) | rows within 0.01 of the best | within 0.1 |",
         "|---|---|---|---|---|---|---|---|"]
    for name, path in find_tables().items():
        r = table_row(load_table(path))
        L.append(f"| {name} | {r['rows']} | {', '.join(map(str, r['rungs']))} | "
                 + " / ".join(f"{v:.2f}" for v in r["rho_final"])
                 + f" | {r['rho_top_third']:.2f} | {r['pearson_r2']:.2f} | {r['near_best']} | {r['within_0_1']} |")
    text = "\n".join(L) + "\n"
    return emit(text, a.out)


if __name__ == "__main__":
    sys.exit(main())
