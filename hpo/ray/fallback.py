"""Resume from our own record when Ray Tune's snapshot is torn.

Tune writes its experiment snapshot in place (``hpo.ray.snapshot``), so a crash can tear it;
``hpo_state.json``, our record of the run (trials, configs, epochs, statuses, scheduler state), is
written atomically and survives.  When Tune's snapshot cannot be read but the record can,
``--resume`` starts a new Tune run in the same results directory that continues from the record:

* Tune's torn snapshot files are moved aside (``torn-tune-snapshot-<time>/``), never deleted;
* every trial the record holds as ended (completed, stopped at a rung, failed) is kept as it is:
  its rows, epochs and outcome come from the record and it is never run again;
* every other trial of the record (running, paused, or waiting) is re-queued under its own trial id
  and config, from the newest checkpoint of its that does not go past the epochs the record holds
  (``latest_checkpoint``), else from scratch;
* the search continues for the trials still to come.  Tune's variant generator (``random``, ``grid``)
  draws from its seed again and skips the draws the recorded trials used, so its stream continues
  where it left off.  A model-based searcher (``tpe``, ``hyperopt``, ``bohb``) lost its state with
  Tune's snapshot: it starts from a derived seed (so it does not repeat its first draws) and is told
  the recorded results where it accepts them (``add_evaluated_point``);
* the planned number of trials still ends.

:class:`RequeueFirst` is the Tune search algorithm that does the last three.
"""
from __future__ import annotations

import copy
import fnmatch
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from ray.tune.experiment.config_parser import _create_trial_from_spec, _make_parser
from ray.tune.search import SearchAlgorithm
from ray.tune.utils.util import flatten_dict

from hpo.atomic import atomic_write

from .snapshot import TUNE_FILES

log = logging.getLogger("hpo")
STATE_PREFIX = "hpo-requeue-state-"  # this algorithm's part of Tune's snapshot (JSON, written atomically)


def set_aside(path: Path) -> Path | None:
    """Move Tune's snapshot files of ``path`` into ``torn-tune-snapshot-<time>/``; return the folder."""
    names = [n for n in os.listdir(path) if any(fnmatch.fnmatch(n, p) for p in TUNE_FILES + (STATE_PREFIX + "*",))]
    if not names:
        return None
    folder = path / time.strftime("torn-tune-snapshot-%Y%m%d-%H%M%S")
    folder.mkdir()
    for name in names:
        os.replace(path / name, folder / name)
    return folder


def latest_checkpoint(path: Path, trial_id: str, epochs: int) -> tuple[str, int] | None:
    """The newest ``checkpoint_*`` of the trial (any of its folders) whose epoch (``hpo_meta.json``)
    is at most ``epochs``: (path, epoch), or None.  A checkpoint past the record would skip epochs
    the record does not hold; one without readable metadata is skipped."""
    from hpo.protocols import EPOCH_KEY

    best: tuple[str, int] | None = None
    for trial_dir in path.glob(f"*_{trial_id}_*"):
        if not trial_dir.is_dir():
            continue
        for ckpt in trial_dir.glob("checkpoint_*"):
            try:
                epoch = int(json.loads((ckpt / "hpo_meta.json").read_text())[EPOCH_KEY])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if epoch <= epochs and (best is None or epoch > best[1]):
                best = (str(ckpt), epoch)
    return best


class RequeueFirst(SearchAlgorithm):
    """Tune search algorithm of a fallback resume: first the record's unfinished trials (own ids,
    configs, checkpoints), then ``inner``'s draws, of which the first ``skip`` are discarded (the
    recorded trials had them)."""

    def __init__(self, inner: SearchAlgorithm, requeue: list[dict[str, Any]], skip: int = 0,
                 expected: list[dict[str, Any] | None] | None = None):
        self.inner = inner
        self.requeue = list(requeue)  # [{"trial_id", "config", "checkpoint", "from_epoch"}]
        self.skip = skip
        self.expected = expected  # the recorded trials' configs, which the skipped draws should repeat
        self.skipped: list[dict[str, Any]] = []  # configs of the discarded draws
        self._ours: set[str] = {r["trial_id"] for r in requeue}
        self._spec: dict | None = None
        self._counter = 0

    def __getstate__(self) -> dict:  # tuner.pkl: the parser does not pickle; the spec comes back
        state = dict(self.__dict__)
        state["_spec"] = None
        return state

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def add_configurations(self, experiments) -> None:
        from ray.tune.experiment import _convert_to_experiment_list

        self.inner.add_configurations(experiments)
        self._spec = _convert_to_experiment_list(experiments)[0].spec

    @property
    def total_samples(self) -> int:
        return max(0, self.inner.total_samples + len(self.requeue) - self.skip)

    def next_trial(self):
        if self.requeue:
            return self._requeued(self.requeue.pop(0))
        while self.skip > 0:
            trial = self.inner.next_trial()
            if trial is None:
                return None
            self.skip -= 1
            self.skipped.append(dict(trial.config))
            self.inner.on_trial_complete(trial.trial_id)  # frees its place in the generator's live count
            if self.skip == 0:
                self._check_skipped()
        return self.inner.next_trial()

    def _check_skipped(self) -> None:
        """Say so when the generator's replayed draws are not the recorded trials' configs (a space
        or seed that changed): the stream then does not continue where it left off."""
        same = [e is None or all(e.get(k) == v for k, v in d.items() if not isinstance(v, dict))
                for d, e in zip(self.skipped, self.expected or [])]
        if self.expected is not None and not all(same):
            log.warning("hpo: resume: the variant generator's first %d draws differ from the recorded trials' "
                        "configs (%d of them); the trials to come are its next draws", len(same), same.count(False))
        else:
            log.info("hpo: resume: skipped the %d draws the recorded trials had", len(self.skipped))

    def _requeued(self, item: dict[str, Any]):
        spec = copy.deepcopy(self._spec)
        spec["config"] = dict(item["config"])
        spec["restore"] = item.get("checkpoint")  # Tune starts the trial from it (Trial.restore_path)
        self._counter += 1
        trial = _create_trial_from_spec(spec, _make_parser(), trial_id=item["trial_id"],
                                        evaluated_params=flatten_dict(spec["config"]),
                                        experiment_tag=f"requeued{self._counter}")
        # its folder now: a re-queued trial may go back to PAUSED and be stopped before it ever
        # starts (Tune gives a trial its folder only when it starts it), and Tune's snapshot and
        # results need one for every trial
        trial.init_local_path()
        return trial

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self._ours:
            self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self._ours:
            self.inner.on_trial_complete(trial_id, result=result, error=error)

    def is_finished(self) -> bool:
        return not self.requeue and self.inner.is_finished()

    def set_finished(self) -> None:
        self.inner.set_finished()

    # ---- Tune's snapshot: what is left to re-queue or skip --------------------------------------
    def has_checkpoint(self, dirpath: str) -> bool:
        return bool(_states(dirpath)) or self.inner.has_checkpoint(dirpath)

    def save_to_dir(self, dirpath: str, session_str: str = "default", **kwargs) -> None:
        self.inner.save_to_dir(dirpath, session_str=session_str, **kwargs)
        doc = {"requeue": self.requeue, "skip": self.skip, "counter": self._counter}
        atomic_write(Path(dirpath) / f"{STATE_PREFIX}{session_str}.json", json.dumps(doc))

    def restore_from_dir(self, dirpath: str) -> None:
        if self.inner.has_checkpoint(dirpath):
            self.inner.restore_from_dir(dirpath)
        states = _states(dirpath)
        if states:
            doc = json.loads((Path(dirpath) / states[-1]).read_text())
            self.requeue, self.skip, self._counter = doc["requeue"], doc["skip"], doc["counter"]


def _states(dirpath: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(dirpath) if n.startswith(STATE_PREFIX) and n.endswith(".json"))
    except OSError:
        return []



class _NoPreviousLogs(logging.Filter):
    """Tune's loggers fetch a restored trial's earlier ``result.json``/``progress.csv`` from its trial
    folder; a re-queued trial has a new folder (its history is in our record), so there is none."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Remote file not found")


def quiet_missing_logs() -> None:
    log_ = logging.getLogger("ray.tune.logger.logger")
    if not any(isinstance(f, _NoPreviousLogs) for f in log_.filters):
        log_.addFilter(_NoPreviousLogs())


def derived_seed(seed: int | None, drawn: int) -> int | None:
    """A model-based searcher's seed after a fallback: not the run's own, so that its first draws
    do not repeat those of the recorded trials; still reproducible from the run's seed."""
    return None if seed is None else (seed * 1_000_003 + drawn + 1) % 2**32


def plan(record: dict[str, Any], path: Path, core=None) -> dict[str, Any]:
    """Split the record's trials: ``ended`` (kept as recorded), ``requeue`` (items for
    :class:`RequeueFirst`, with the checkpoint to start from), ``lost`` (no config in the record:
    from a record written before configs were kept) and ``order`` (every trial Tune had created)."""
    from hpo.protocols import ENDED

    trials = record.get("store", {}).get("trials", {})
    statuses = record.get("statuses", {})
    configs = record.get("configs", {})
    order = list(dict.fromkeys([*record.get("order", []), *(record.get("scheduler") or {}).get("order", []),
                                *trials, *statuses]))
    out: dict[str, Any] = {"ended": [], "requeue": [], "lost": [], "order": order,
                           "expected": [trials.get(t, {}).get("config") or configs.get(t) for t in order]}
    for tid in order:
        if statuses.get(tid) in ("TERMINATED", "ERROR") or (core is not None and core.trial_status(tid) in ENDED):
            out["ended"].append(tid)
            continue
        config = trials.get(tid, {}).get("config") or configs.get(tid)
        if config is None:
            out["lost"].append(tid)
            continue
        epochs = int(trials.get(tid, {}).get("epochs", 0))
        ckpt = latest_checkpoint(path, tid, epochs) if epochs else None
        out["requeue"].append({"trial_id": tid, "config": config, "checkpoint": ckpt[0] if ckpt else None,
                               "from_epoch": ckpt[1] if ckpt else 0})
    return out


def tell_searcher(searcher, record: dict[str, Any], ended: list[str], space_keys: list[str]) -> int:
    """Give a fresh model-based searcher the recorded trials' last values through Tune's public
    ``Searcher.add_evaluated_point``; returns how many it took (0 when it does not take any)."""
    trials = record.get("store", {}).get("trials", {})
    told = 0
    for tid in ended:
        t = trials.get(tid, {})
        value = t.get("last")
        if value is None:
            continue
        try:
            searcher.add_evaluated_point({k: t["config"][k] for k in space_keys if k in t["config"]}, float(value))
        except NotImplementedError:
            return 0
        except Exception:  # noqa: BLE001 - a searcher that refuses a point keeps running without it
            continue
        told += 1
    return told


def continue_run(record: dict, cfg, path: Path, callback, scheduler, search_alg, cap: int | None,
                 num_samples: int) -> tuple[Any, None, int]:
    """A new Tune run that continues the record (``hpo.ray.fallback``): the callback and scheduler
    take the record's state, ended trials stay as recorded, the others are re-queued first, then
    the search goes on for the rest.  Returns (search algorithm, Tune's concurrency cap, Tune's
    num_samples)."""
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher, SearchGenerator

    from hpo.progress import say

    from .snapshot import STATE_FILE

    callback.set_state(record)
    quiet_missing_logs()
    core = getattr(scheduler, "core", None)
    p = plan(record, path, core)
    if hasattr(scheduler, "requeued"):
        scheduler.requeued = {r["trial_id"] for r in p["requeue"]}
    for tid in p["lost"]:  # created but never reported, before the record kept configs
        if core is not None:
            core.on_trial_remove(tid)
    kept, drawn = len(p["ended"]) + len(p["requeue"]), len(p["order"])
    if isinstance(search_alg, BasicVariantGenerator):  # seeded: draw the recorded trials' configs again, skip them
        inner, skip, how = search_alg, drawn, f"the {cfg.search.name} generator skips the {drawn} draws they had"
        tune_samples = num_samples
    else:
        told = tell_searcher(search_alg, record, p["ended"], list(cfg.space))
        how = (f"the {cfg.search.name} searcher lost its state with Tune's snapshot: it restarts from a derived "
               f"seed, told {told} recorded results")
        if cap:
            search_alg = ConcurrencyLimiter(search_alg, max_concurrent=cap)
        inner, skip = SearchGenerator(search_alg) if isinstance(search_alg, Searcher) else search_alg, 0
        tune_samples = max(0, num_samples - kept)
    alg = RequeueFirst(inner, p["requeue"], skip=skip, expected=p["expected"] if skip else None)
    from_ckpt = sum(1 for r in p["requeue"] if r["checkpoint"])
    dropped = f", {len(p['lost'])} without a recorded config dropped" if p["lost"] else ""
    say(f"resume: continuing from {path / STATE_FILE}: {len(p['ended'])} ended trials kept as recorded, "
        f"{len(p['requeue'])} re-queued ({from_ckpt} from a checkpoint, {len(p['requeue']) - from_ckpt} from "
        f"scratch){dropped}; {how}")
    return alg, None, tune_samples
