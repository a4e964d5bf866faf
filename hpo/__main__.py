"""``python -m hpo report RESULTS_DIR``: table of the best trials and PNG plots of a results directory
(``python -m hpo run ...`` is ``python -m hpo.run ...``).

Works on a finished run and on a live one (from the periodically flushed ``curves.parquet``).
All logic lives in ``hpo.reporting`` (``make_report``).  (There is no module ``hpo.report``: importing
one would replace the per-epoch function ``hpo.report`` on the package.)
"""
from __future__ import annotations

import argparse
import sys

from hpo.errors import ConfigError
from hpo.reporting import make_report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hpo report", description=__doc__.splitlines()[0])
    p.add_argument("results_dir", help="STORAGE/NAME of an experiment (finished or running)")
    p.add_argument("--out", help="folder for the PNG files (default RESULTS_DIR/report)")
    p.add_argument("--top", type=int, default=10, help="rows of the best-trials table")
    p.add_argument("--metric", help="metric to report (default: the experiment's)")
    p.add_argument("--mode", choices=("min", "max"), help="default: the experiment's")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        from hpo.run import main as run_main

        return run_main(argv[1:])
    if argv[:1] != ["report"]:
        print("usage: python -m hpo report RESULTS_DIR [...] | python -m hpo run --space FILE [...]", file=sys.stderr)
        return 2
    args = parser().parse_args(argv[1:])
    try:
        make_report(args.results_dir, args.out, metric=args.metric, mode=args.mode, top=args.top, verbose=True)
    except ConfigError as exc:
        print(f"hpo: error: {exc.one_line()}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
