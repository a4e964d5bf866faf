"""Make any pure-Python ``SchedulerCore`` a Ray Tune ``TrialScheduler``.

Ray Tune 2.60 scheduler API (``ray.tune.schedulers.TrialScheduler``).  The adapter:

* maps Tune ``Trial`` objects to trial ids (the core sees ids only);
* reads the epoch from ``result["hpo_epoch"]`` (``hpo.protocols.EPOCH_KEY``, monotonic across
  pause/resume, unlike ``training_iteration``) and turns ``result[metric]`` into the core's loss
  with :class:`hpo.protocols.Objective` (cores minimise);
* fails (STOP, ``Outcome.FAILED`` with the reason) a trial whose result lacks the metric or the
  epoch, has a non-numeric metric, or carries ``hpo.ray.runtime.FAULT_KEY`` (our trial function's
  report of such a fault): the fault stays inside that trial and the run goes on (Ray's own
  schedulers silently continue, hiding typos);
* stops a trial with a NaN/inf metric (``Outcome.NON_FINITE``, worst loss);
* forwards PAUSE (Tune checkpoints the trial; it resumes from that checkpoint) and stops, through
  ``tune_controller.stop_trial``, the paused trials the core dropped, including those whose pause
  was still in flight when the core dropped them (stopped once Tune shows them PAUSED);
* delegates ``choose_trial_to_run`` to the core (a pure query: idempotent) and tells the core no
  more trials will come once the search algorithm is finished;
* ``stop_reasons()`` (typed ``StopReason`` values) and ``get_state()``/``set_state()`` (core state
  plus the id maps) let the service show and persist the scheduling state (Tune itself never
  saves scheduler state).

Only the ``tune_controller`` attributes Tune whitelists are used: ``search_alg`` and
``stop_trial``; trial statuses are read from the ``Trial`` objects ``on_trial_add`` received.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Protocol

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from hpo.protocols import ENDED, EPOCH_KEY, Diagnostics, Objective, Outcome, SchedulerCore, StopReason


class SchedulerView(Protocol):
    """What the service reads from the Tune scheduler of a run, ours or a foreign one."""
    uses_pause: bool

    def stop_reasons(self) -> dict[str, StopReason]: ...

    def diagnostics(self) -> Diagnostics | None: ...

    def get_state(self) -> dict[str, Any] | None: ...

    def set_state(self, state: Mapping[str, Any], curves: Mapping[str, list[float]] | None = None) -> None: ...


_TUNE_DECISION = {"CONTINUE": TrialScheduler.CONTINUE, "PAUSE": TrialScheduler.PAUSE,
                  "STOP": TrialScheduler.STOP}


class CoreTrialScheduler(FIFOScheduler):
    _supports_buffered_results = False

    def __init__(self, core: SchedulerCore, metric: str | None = None, mode: str | None = None):
        super().__init__()
        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.core = core
        self.uses_pause = core.uses_pause
        self._metric, self._mode = metric, mode
        self._trials: dict[str, Trial] = {}
        self._order: list[str] = []  # trial ids in the order Tune added them
        self._unended: list[str] = []  # the same, less the trials Tune has ended (pruned as seen)
        self._reasons: dict[str, StopReason] = {}
        self._recovering: list[str] = []  # failed trials Tune requeues for a retry
        self._restoring = False  # set by set_state (Tuner.restore) until the controller's first step
        self.requeued: set[str] = set()  # trials a fallback resume re-adds (hpo.ray.fallback), not yet added

    def __setstate__(self, state: dict) -> None:  # pickled (Tune's snapshot) before _recovering existed
        self.__dict__.update(state)
        self.__dict__.setdefault("_recovering", [])
        self.__dict__.setdefault("requeued", set())
        self.__dict__["_restoring"] = False

    # ---- search properties ------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        if (self._metric and metric and metric != self._metric) or \
                (self._mode and mode and mode != self._mode):
            return False
        if mode not in (None, "min", "max"):
            return False
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    # ---- events ------------------------------------------------------------------------------
    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        tid = trial.trial_id
        if tid not in self._trials and tid not in self._order:
            self._order.append(tid)
        if tid not in self._trials and tid not in self._unended:
            self._unended.append(tid)
        self._trials[tid] = trial
        known = self.core.trial_status(tid)
        if tid in self._recovering:
            return  # a retry of a failed trial: it stays PENDING and runs again
        if known is None:
            self.core.on_trial_add(tid)
            return
        if not self._restoring and tid not in self.requeued:
            return  # Tune re-adds a trial it requeued: it has already filed it as PENDING
        self.requeued.discard(tid)  # a fallback resume's trial is new to Tune: filed after this call
        # Re-added by ``Tuner.restore`` (``TuneController.resume``: our state came back from the
        # same snapshot just before) and before the controller's first step.  Tune requeues every
        # unfinished trial as PENDING and would start it at once, and its snapshot can lag on trials
        # that were stopped while paused.  A trial the core holds at a rung goes back to PAUSED
        # (else it trains past its rung); one the core ended stays ended.  ``add_trial`` files the
        # trial under ``trial.status`` right after this call, so setting the status here is
        # consistent.  Outside the restore (``_restoring`` is cleared at the first
        # ``choose_trial_to_run``) a status is never changed here: the trial is already filed, and
        # changing it made Tune's ``assert trial.status == Trial.PENDING`` fail.
        if trial.status == Trial.PENDING and known == "paused":
            trial.set_status(Trial.PAUSED)
        elif trial.status == Trial.PENDING and known in ENDED:
            trial.set_status(Trial.TERMINATED)

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        if not self._metric:
            raise ValueError("the scheduler has no metric: pass metric=... to the scheduler or TuneConfig")
        why = _result_fault(result, self._metric)
        if why is not None:  # this trial broke the report contract: it fails, the run goes on
            return self._fail(tune_controller, trial, why, epoch=int(result.get(EPOCH_KEY) or 0))
        value = result[self._metric]
        loss = Objective(self._metric, self._mode or "min").loss(float(value))
        if not math.isfinite(loss):
            self._reasons[trial.trial_id] = StopReason(Outcome.NON_FINITE, epoch=int(result[EPOCH_KEY]))
        decision = self.core.on_result(trial.trial_id, int(result[EPOCH_KEY]), loss)
        self._apply_stops(tune_controller)
        return _TUNE_DECISION[decision]

    def _fail(self, tune_controller, trial: Trial, why: str, epoch: int) -> str:
        self._reasons[trial.trial_id] = StopReason(Outcome.FAILED, epoch=max(0, epoch - 1), detail=why)
        self.core.on_trial_remove(trial.trial_id)
        self._apply_stops(tune_controller)
        return TrialScheduler.STOP

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        self.core.on_trial_complete(trial.trial_id)
        self._apply_stops(tune_controller)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        if trial.status == Trial.ERROR:
            # Tune 2.60 retries a failed trial (FailureConfig.max_failures): it marks it ERROR, calls
            # this, then requeues it PENDING through on_trial_add.  The core keeps it; it runs again
            # from its last checkpoint, first in line (choose_trial_to_run).  A final failure comes
            # here while the trial is still RUNNING or PENDING.
            self._recovering.append(trial.trial_id)
            return
        self._reasons.setdefault(trial.trial_id, StopReason(Outcome.FAILED))
        self.core.on_trial_remove(trial.trial_id)
        self._apply_stops(tune_controller)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self.core.on_trial_remove(trial.trial_id)
        self._apply_stops(tune_controller)

    def choose_trial_to_run(self, tune_controller) -> Trial | None:
        self._restoring = False  # the controller runs: every restored trial has been filed
        search_alg = getattr(tune_controller, "search_alg", None)
        if search_alg is not None and search_alg.is_finished():
            self.core.seal()
        trials = self._trials  # the Trial objects Tune gave on_trial_add (their status is live)
        self._unended = [tid for tid in self._unended
                         if tid not in trials or trials[tid].status not in (Trial.TERMINATED, Trial.ERROR)]
        runnable = [tid for tid in self._unended
                    if tid in trials and trials[tid].status in (Trial.PENDING, Trial.PAUSED)]
        for tid in list(self._recovering):
            if trials[tid].status == Trial.PENDING:
                self._recovering.remove(tid)
                if self.core.trial_status(tid) not in ENDED:
                    return trials[tid]
        chosen = self.core.choose_trial_to_run(runnable)
        self._apply_stops(tune_controller)
        self._stop_ended_waiting(tune_controller, runnable, trials)
        if chosen is None or trials[chosen].status not in (Trial.PENDING, Trial.PAUSED):
            return None
        return trials[chosen]

    def _apply_stops(self, tune_controller) -> None:
        for tid in self.core.take_stops():
            trial = self._trials.get(tid)
            if trial is not None and trial.status in (Trial.PENDING, Trial.PAUSED):
                tune_controller.stop_trial(trial)

    def _stop_ended_waiting(self, tune_controller, runnable: list[str], trials: dict[str, Trial]) -> None:
        """Stop the waiting trials the core has already ended.

        Tune pauses asynchronously: a trial told PAUSE stays RUNNING until its checkpoint is saved.
        A rung cut in that window ends it in the core while Tune cannot stop it yet, so the stop
        ``_apply_stops`` skipped is applied here, once Tune shows the trial PAUSED (else it waits
        forever and the experiment never ends)."""
        for tid in runnable:
            if self.core.trial_status(tid) in ENDED and \
                    trials[tid].status in (Trial.PENDING, Trial.PAUSED):
                tune_controller.stop_trial(trials[tid])

    # ---- reporting / persistence -----------------------------------------------------------------
    def stop_reasons(self) -> dict[str, StopReason]:
        out = {}
        for tid in self._order:
            reason = self._reasons.get(tid) or self.core.stop_reason(tid)
            if reason:
                out[tid] = reason
        return out

    def diagnostics(self) -> Diagnostics | None:
        return self.core if isinstance(self.core, Diagnostics) else None

    def debug_string(self) -> str:
        live = sum(1 for t in self._order if self.core.trial_status(t) in ("pending", "running", "paused"))
        return f"Using hpo {self.core.kind} scheduler: {live} live of {len(self._order)} trials."

    def get_state(self) -> dict[str, Any]:
        """The core's state without its curves: those are saved once, in the service's curve
        record, and come back through ``set_state(..., curves=...)``."""
        core = dict(self.core.get_state())
        core.pop("curves", None)
        return {"core": core, "order": list(self._order),
                "reasons": {t: r.to_dict() for t, r in self._reasons.items()},
                "metric": self._metric, "mode": self._mode}

    def set_state(self, state: Mapping[str, Any], curves: Mapping[str, list[float]] | None = None) -> None:
        """Restore after ``Tuner.restore`` (trial ids are kept by Tune across a restore); ``curves``
        are the losses by epoch of every trial (``CurveStore.loss_curves``)."""
        core = dict(state["core"])
        if "curves" not in core:
            core["curves"] = {t: list((curves or {}).get(t, [])) for t in core["status"]}
        self.core.set_state(core)
        self._order = list(state["order"])
        self._unended = list(dict.fromkeys(self._order + self._unended))
        self._reasons = {t: StopReason.from_dict(r) for t, r in state["reasons"].items()}
        self._metric = self._metric or state.get("metric")
        self._mode = self._mode or state.get("mode")
        self._restoring = True


def _result_fault(result: Mapping[str, Any], metric: str) -> str | None:
    """Why a result cannot be scheduled (``hpo.ray.runtime.FAULT_KEY`` from our trial function,
    a missing objective or epoch, a non-numeric value), or None."""
    from .runtime import FAULT_KEY, metric_fault

    if result.get(FAULT_KEY):
        return str(result[FAULT_KEY])
    why = metric_fault({k: v for k, v in result.items() if not k.startswith("_")}, metric)
    if why is None and EPOCH_KEY not in result:
        why = f"reported without {EPOCH_KEY!r}: report through hpo.report(...) so epochs count across pauses"
    return why


def build_ray_scheduler(name: str, *, objective: Objective, options: dict, max_epochs: int,
                        seed: int | None, predictor_factory=None) -> TrialScheduler:
    """Tune's FIFO for a scheduler without a core (``fifo``), else our core behind
    :class:`CoreTrialScheduler`."""
    from hpo import schedulers
    from hpo.components import Context, spec

    s = spec("scheduler", name)
    if s.build is None:
        s.check(options, Context(max_epochs))
        return FIFOScheduler()
    core = schedulers.build_core(name, options=options, max_epochs=max_epochs, seed=seed,
                                 predictor_factory=predictor_factory)
    return CoreTrialScheduler(core, metric=objective.metric, mode=objective.mode)


class ForeignScheduler:
    """A Tune scheduler passed to ``hpo.tune`` as an instance: no reasons, no state of ours.
    Only Ray's FIFO and ASHA are known never to PAUSE; anything else is treated as pausing."""

    def __init__(self, scheduler: TrialScheduler):
        from ray.tune.schedulers import AsyncHyperBandScheduler

        self.scheduler = scheduler
        self.uses_pause = not (type(scheduler) is FIFOScheduler or isinstance(scheduler, AsyncHyperBandScheduler))

    def stop_reasons(self) -> dict[str, StopReason]:
        return {}

    def diagnostics(self) -> Diagnostics | None:
        return None

    def get_state(self) -> dict[str, Any] | None:
        return None

    def set_state(self, state: Mapping[str, Any], curves: Mapping[str, list[float]] | None = None) -> None:
        pass


def view(scheduler: TrialScheduler) -> SchedulerView:
    return scheduler if isinstance(scheduler, CoreTrialScheduler) else ForeignScheduler(scheduler)
