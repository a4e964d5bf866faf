"""``python -m hpo.report RESULTS_DIR``: table of the best trials and PNG plots of a results directory.

Works on a finished run and on a live one (from the periodically flushed ``curves.parquet``).
All logic lives in ``hpo.reporting`` (``hpo.reporting.make_report``): never ``import hpo.report``,
which would shadow the ``hpo.report(...)`` per-epoch function on the package.
"""
from __future__ import annotations

import argparse
import sys

from hpo.errors import ConfigError
from hpo.reporting import make_report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hpo.report", description=__doc__.splitlines()[0])
    p.add_argument("results_dir", help="STORAGE/NAME of an experiment (finished or running)")
    p.add_argument("--out", help="folder for the PNG files (default RESULTS_DIR/report)")
    p.add_argument("--top", type=int, default=10, help="rows of the best-trials table")
    p.add_argument("--metric", help="metric to report (default: the experiment's)")
    p.add_argument("--mode", choices=("min", "max"), help="default: the experiment's")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        make_report(args.results_dir, args.out, metric=args.metric, mode=args.mode, top=args.top, verbose=True)
    except ConfigError as exc:
        print(f"hpo: error: {exc.one_line()}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
