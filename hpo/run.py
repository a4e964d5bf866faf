"""``python -m hpo.run --space mlpf_gnn.yaml``: run an experiment from a search-space file.

Bad input ends with one line (file: key: problem) on stderr and exit status 2, before Ray starts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import config as config_mod
from . import preflight
from .errors import ConfigError, ExperimentStalled, FewerResultsError, StorageStopped


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hpo.run", description=__doc__.splitlines()[0])
    p.add_argument("--space", help="search-space YAML (a path, or a file name inside search_spaces/)")
    g = p.add_argument_group("overrides (take precedence over the file)")
    g.add_argument("--num-samples", type=int, help="number of trials")
    g.add_argument("--max-epochs", type=int, help="epochs per trial (the budget unit)")
    g.add_argument("--time-limit", type=float, dest="time_limit_s", help="stop the experiment after N seconds")
    g.add_argument("--scheduler", help="fifo | asha | hyperband | swift")
    g.add_argument("--search", help="random | grid | tpe | hyperopt | bohb")
    g.add_argument("--predictor", help="svr | qsvr (for --scheduler swift)")
    g.add_argument("--workers-per-trial", type=int, help="data-parallel Ray Train workers per trial")
    g.add_argument("--cpus-per-worker", type=float)
    g.add_argument("--gpus-per-worker", type=float)
    g.add_argument("--max-concurrent", type=int, help="trials running at once")
    g.add_argument("--num-cpus", type=int, help="CPUs of the embedded local Ray (default: detected)")
    g.add_argument("--address", help="join an existing Ray cluster (auto, HOST:PORT or ray://HOST:PORT) "
                                     "instead of starting one")
    g.add_argument("--name", help="experiment name (results go to STORAGE/NAME)")
    g.add_argument("--storage", help="results root directory (default ./hpo_results)")
    g.add_argument("--seed", type=int)
    g.add_argument("--dashboard-host", help="address the Ray dashboard binds to (default 127.0.0.1; "
                                            "anything else exposes code execution to the network)")
    p.add_argument("--check", action="store_true", help="validate the space and exit")
    p.add_argument("--resume", metavar="RESULTS_DIR",
                   help="continue an experiment whose driver stopped (crash, kill -9, reboot)")
    return p


def _fail(msg: str) -> int:
    print(f"hpo: error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.resume:
        extra = sorted(k for k, v in vars(args).items()
                       if v not in (None, False) and k not in ("resume", "address", "num_cpus"))
        if extra:
            return _fail(f"--resume continues the saved experiment as it was; it takes only --address and "
                         f"--num-cpus (got --{extra[0].replace('_', '-')})")
        def resume() -> None:
            if Path(args.resume).is_dir():
                preflight.check_storage(args.resume, "resume", "<cli>")
            preflight.check_address(args.address)
            from .service import resume_experiment

            resume_experiment(args.resume, address=args.address, num_cpus=args.num_cpus)

        return _guarded(resume)
    if not args.space:
        return _fail("--space is required (or --resume RESULTS_DIR)")
    over = {k: v for k, v in vars(args).items() if k not in ("space", "check", "resume") and v is not None}

    def start() -> None:
        cfg = config_mod.load(args.space, **over)
        if "name" not in over:
            cfg.name = config_mod.fresh_name(cfg)
        preflight.check_environment(cfg)  # storage, dashboard host, --address: before Ray starts
        if args.check:
            print(f"{cfg.source}: ok ({len(cfg.space)} hyperparameters, trainable {cfg.trainable}, "
                  f"scheduler {cfg.scheduler.name}, search {cfg.search.name})")
            return
        from .service import run_experiment

        run_experiment(cfg)

    return _guarded(start)


def _guarded(action) -> int:
    """Bad input -> one line on stderr and exit status 2; a stalled run, results that would be
    replaced by fewer, or storage that stopped taking writes -> one line and 1; Ctrl-C -> 130."""
    try:
        action()
    except ConfigError as exc:
        return _fail(exc.one_line())
    except KeyboardInterrupt:
        print("hpo: interrupted", file=sys.stderr)
        return 130
    except (ExperimentStalled, FewerResultsError) as exc:
        print(f"hpo: error: {exc}", file=sys.stderr)
        return 1
    except StorageStopped as exc:
        return _last_line(f"hpo: {exc}")
    except OSError as exc:  # our own final writes on a full disk or read-only filesystem
        from .disk_errors import DISK_ERRNOS

        if exc.errno not in DISK_ERRNOS:
            raise
        where = f"while writing {exc.filename}" if exc.filename else "while writing the results"
        return _last_line(f"hpo: run stopped: {exc.strerror} {where}; nothing was corrupted; free space (or make "
                          "the filesystem writable) and resume with --resume RESULTS_DIR")
    return 0


def _last_line(msg: str) -> int:
    """A run stopped by its storage: the cause is the last line of the output, after Ray's."""
    sys.stdout.flush()
    sys.stderr.flush()
    print(msg, file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
