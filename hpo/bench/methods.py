"""The methods of the scheduler comparison and how each is built, in simulation and on Ray.

Ours (pure-Python cores, driven by :func:`hpo.bench.simtime.simulate`): ``asha``, ``hyperband``,
``swift-svr``, ``swift-qsvr``, ``bohb-hb`` (our BOHB sampler with our Hyperband), ``tpe-asha``
(Optuna TPE with our ASHA), ``random-full`` (random rows, every trial trained to R), and
``predictive`` (with BOHB's KDE sampler, as recommended), ``predictive-random`` (the same core
on the paired random stream) and ``predictive-rank`` (the predictor never trusted: the ablation).  Peers: ``one-epoch`` and ``sh``
(:mod:`hpo.bench.screening`), ``optuna-hyperband``, ``optuna-sha`` (Optuna's own sequential loop),
``dehb`` (the ``dehb`` package in its own venv, :mod:`hpo.bench.dehb_peer`), ``ray-asha`` (Ray's
``ASHAScheduler`` code in the simulator, :class:`hpo.ray.bench.RayASHACore`), ``ray-hyperband``,
``ray-bohb`` (Ray-driven only).

A simulated method is one :class:`SimMethod` entry of :data:`REGISTRY`: a label, how many trials
it gets and a builder returning ``(core, searcher)``; :func:`register` adds one.  Budgets:
Hyperband-family methods run one Hyperband iteration (its own trial count), screening methods
and ``predictive`` take ``screen_trials`` candidates (every row of a table: their budget is
epochs), random search ``random_trials``, the rest ``asha_trials``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from hpo.schedulers import build_core
from hpo.schedulers.base import CoreBase
from hpo.schedulers.brackets import hyperband_trials

from .rows import BOHBRows, PairedRows, TPERows
from .table import CurveTable


@dataclass(frozen=True)
class SimMethod:
    name: str
    label: str
    trials: str  # "hyperband" | "asha" | "random" | "screen"
    build: Callable[..., tuple[Any, Any]] | None  # (table, seed=, max_epochs=, eta=, n_trials=, space=, replace=)
    ours: bool = False
    model_based: bool = False
    runner: str = "sim"  # "sim" (core + searcher in the simulator), "optuna", "dehb" (their own loops)


REGISTRY: dict[str, SimMethod] = {}


def register(method: SimMethod) -> None:
    REGISTRY[method.name] = method


def predictor_factory(name: str, seed: int):
    import predictors

    return lambda: predictors.build_predictor(name, {}, seed=seed)


def _asha(table, *, seed, max_epochs, eta, n_trials, space, replace):
    core = build_core("asha", options={"grace_period": 1, "reduction_factor": eta}, max_epochs=max_epochs)
    return core, PairedRows(table, seed, n_trials, replace=replace)


def _tpe_asha(table, *, seed, max_epochs, eta, n_trials, space, replace):
    core, _ = _asha(table, seed=seed, max_epochs=max_epochs, eta=eta, n_trials=n_trials, space=space, replace=replace)
    return core, TPERows(table, seed, n_trials, space, replace=replace)


def _hyperband(table, *, seed, max_epochs, eta, n_trials, space, replace):
    core = build_core("hyperband", options={"eta": eta}, max_epochs=max_epochs)
    return core, PairedRows(table, seed, n_trials, replace=replace)


def _bohb_hb(table, *, seed, max_epochs, eta, n_trials, space, replace):
    core = build_core("hyperband", options={"eta": eta}, max_epochs=max_epochs)
    return core, BOHBRows(table, seed, n_trials, space, replace=replace)


def _swift(predictor: str):
    def build(table, *, seed, max_epochs, eta, n_trials, space, replace):
        core = build_core("swift", options={"eta": eta}, max_epochs=max_epochs,
                          predictor_factory=predictor_factory(predictor, seed))
        return core, PairedRows(table, seed, n_trials, replace=replace)
    return build


def _random_full(table, *, seed, max_epochs, eta, n_trials, space, replace):
    return CoreBase(max_epochs), PairedRows(table, seed, n_trials, replace=replace)


def _ray_asha(table, *, seed, max_epochs, eta, n_trials, space, replace):
    from hpo.ray.bench import RayASHACore

    return RayASHACore(max_epochs, eta), PairedRows(table, seed, n_trials, replace=replace)


def _one_epoch(table, *, seed, max_epochs, eta, n_trials, space, replace, top_k: int = 2):
    from .screening import one_epoch_core

    return one_epoch_core(max_epochs, top_k), PairedRows(table, seed, n_trials, replace=replace)


def _sh(table, *, seed, max_epochs, eta, n_trials, space, replace):
    from .screening import sh_core

    return sh_core(max_epochs, eta), PairedRows(table, seed, n_trials, replace=replace)


def predictive_parts(table, *, seed, max_epochs, n_trials, space=None, replace=True, options=None,
                     sampler: str = "bohb", core_class=None):
    """Our ``predictive`` core with ``options`` over its defaults, and BOHB's KDE sampler
    (``sampler="bohb"``, as recommended: ``search: bohb``) or the paired random stream
    (``sampler="random"``).  ``core_class`` (a ``PredictiveCore`` subclass, for the experiments in
    ``benchmarks/predictive_variants.py``) replaces the registered core.  The registry's three
    ``predictive`` rows and ``benchmarks/predictive_defaults.py`` build their runs here."""
    from .peers import table_space

    if core_class is None:
        core = build_core("predictive", options=dict(options or {}), max_epochs=max_epochs, seed=seed)
    else:
        core = core_class(max_epochs, **dict(options or {}))
    if sampler == "bohb":
        return core, BOHBRows(table, seed, n_trials, space or table_space(table), replace=replace)
    if sampler == "random":
        return core, PairedRows(table, seed, n_trials, replace=replace)
    raise ValueError(f"sampler must be 'bohb' or 'random', got {sampler!r}")


def _predictive(table, *, seed, max_epochs, eta, n_trials, space, replace):
    """As recommended: our ``predictive`` core with its defaults and BOHB's KDE sampler (``search: bohb``)."""
    return predictive_parts(table, seed=seed, max_epochs=max_epochs, n_trials=n_trials, space=space,
                            replace=replace)


def _predictive_rank(table, *, seed, max_epochs, eta, n_trials, space, replace):
    """The ablation: the same core and sampler with the predictor never trusted (ASHA's promotion
    rule on the same rungs), so the difference to ``predictive`` is what the predictions add."""
    return predictive_parts(table, seed=seed, max_epochs=max_epochs, n_trials=n_trials, space=space,
                            replace=replace, options={"min_pairs": 10 ** 9})


def _predictive_random(table, *, seed, max_epochs, eta, n_trials, space, replace):
    """The same core on the paired random stream (what the searcher adds, by difference)."""
    return predictive_parts(table, seed=seed, max_epochs=max_epochs, n_trials=n_trials, space=space,
                            replace=replace, sampler="random")


for _m in (
    SimMethod("asha", "ASHA (ours)", "asha", _asha, ours=True),
    SimMethod("hyperband", "Hyperband (ours)", "hyperband", _hyperband, ours=True),
    SimMethod("swift-svr", "Swift-HB + SVR (ours)", "hyperband", _swift("svr"), ours=True),
    SimMethod("swift-qsvr", "Swift-HB + Q-SVR (ours)", "hyperband", _swift("qsvr"), ours=True),
    SimMethod("bohb-hb", "BOHB sampler + Hyperband (ours)", "hyperband", _bohb_hb, ours=True, model_based=True),
    SimMethod("tpe-asha", "TPE + ASHA (ours)", "asha", _tpe_asha, ours=True, model_based=True),
    SimMethod("random-full", "random search, full training", "random", _random_full, ours=True),
    SimMethod("optuna-hyperband", "Optuna TPE + HyperbandPruner", "asha", None, model_based=True, runner="optuna"),
    SimMethod("optuna-sha", "Optuna TPE + SuccessiveHalvingPruner", "asha", None, model_based=True,
              runner="optuna"),
    SimMethod("ray-asha", "Ray ASHAScheduler", "asha", _ray_asha),
    SimMethod("one-epoch", "one-epoch top-2 screening", "screen", _one_epoch),
    SimMethod("sh", "successive halving, one bracket from 1 epoch", "screen", _sh),
    SimMethod("dehb", "DEHB 0.1.2", "hyperband", None, model_based=True, runner="dehb"),
    SimMethod("predictive", "Predictive + BOHB sampler (ours)", "screen", _predictive, ours=True, model_based=True),
    SimMethod("predictive-random", "Predictive, random sampling (ours)", "screen", _predictive_random, ours=True),
    SimMethod("predictive-rank", "Predictive with the predictor off + BOHB sampler (ablation)", "screen",
              _predictive_rank, ours=True, model_based=True),
):
    register(_m)

# the first protocol's method lists (kept: its committed CSVs are reproduced with them)
OURS = ("asha", "hyperband", "swift-svr", "swift-qsvr", "bohb-hb", "tpe-asha", "random-full")
OPTUNA = ("optuna-hyperband", "optuna-sha")
RAY_PEERS = ("ray-asha", "ray-hyperband", "ray-bohb")
SIM_METHODS = OURS + OPTUNA + ("ray-asha",)  # ray-asha: Ray's decision code in our simulator
ALL = OURS + OPTUNA + RAY_PEERS
MODEL_BASED = ("bohb-hb", "tpe-asha", "optuna-hyperband", "optuna-sha", "ray-bohb")
LABELS = {**{m.name: m.label for m in REGISTRY.values()},
          "ray-hyperband": "Ray HyperBandScheduler", "ray-bohb": "Ray HyperBandForBOHB + TuneBOHB"}


def unavailable(method: str, max_epochs: int = 8) -> str | None:
    """Why a registered method cannot run here (None when it can): ``predictive`` needs the
    scheduler core of that name, ``dehb`` a venv built from the package index."""
    if method == "predictive":
        try:
            build_core("predictive", options={}, max_epochs=max_epochs)
        except Exception as exc:  # unknown scheduler, or its module is missing
            return f"hpo.schedulers.build_core('predictive') failed: {type(exc).__name__}: {exc}"
    return None


def trials_for(method: str, max_epochs: int, eta: int, asha_trials: int, random_trials: int,
               screen_trials: int | None = None) -> int:
    kind = REGISTRY[method].trials if method in REGISTRY else (
        "hyperband" if method in ("ray-hyperband", "ray-bohb") else "asha")
    if kind == "hyperband":
        return hyperband_trials(max_epochs, eta)
    if kind == "random":
        return random_trials
    if kind == "screen":
        if screen_trials is None:
            raise ValueError(f"{method} needs screen_trials")
        return screen_trials
    return asha_trials


def sim_parts(method: str, table: CurveTable, *, seed: int, max_epochs: int, eta: int, n_trials: int,
              space: dict[str, Any] | None = None, replace: bool = True):
    """``(core, searcher)`` for :func:`hpo.bench.simtime.simulate`."""
    from .peers import table_space

    m = REGISTRY.get(method)
    if m is None or m.build is None:
        raise ValueError(f"method {method!r} has no simulated core + searcher")
    return m.build(table, seed=seed, max_epochs=max_epochs, eta=eta, n_trials=n_trials,
                   space=space or table_space(table), replace=replace)
