"""The methods of the scheduler comparison and how each is built, in simulation and on Ray.

Ours (pure-Python cores, also driven by :func:`hpo.bench.simtime.simulate`): ``asha``,
``hyperband``, ``swift-svr``, ``swift-qsvr``, ``bohb-hb`` (our BOHB sampler with our Hyperband),
``tpe-asha`` (Optuna TPE with our ASHA), ``random-full`` (random rows, every trial trained to R).
Peers: ``optuna-hyperband``, ``optuna-sha`` (Optuna's own loop, simulated or not: it is
sequential), ``ray-asha`` (Ray's ``ASHAScheduler``; also simulated, through
:class:`hpo.ray.bench.RayASHACore`), ``ray-hyperband``, ``ray-bohb`` (Ray-driven only).

Budgets: Hyperband-family methods run one Hyperband iteration (its own trial count); the others
take ``n_trials`` from :func:`trials_for`, chosen so their epoch counts are of the same order.
"""
from __future__ import annotations

from typing import Any

from hpo.schedulers import build_core
from hpo.schedulers.base import CoreBase
from hpo.schedulers.brackets import hyperband_trials
from .table import CurveTable

from .rows import BOHBRows, PairedRows, TPERows

OURS = ("asha", "hyperband", "swift-svr", "swift-qsvr", "bohb-hb", "tpe-asha", "random-full")
OPTUNA = ("optuna-hyperband", "optuna-sha")
RAY_PEERS = ("ray-asha", "ray-hyperband", "ray-bohb")
SIM_METHODS = OURS + OPTUNA + ("ray-asha",)  # ray-asha: Ray's decision code in our simulator
ALL = OURS + OPTUNA + RAY_PEERS
MODEL_BASED = ("bohb-hb", "tpe-asha", "optuna-hyperband", "optuna-sha", "ray-bohb")
LABELS = {
    "asha": "ASHA (ours)", "hyperband": "Hyperband (ours)", "swift-svr": "Swift-HB + SVR (ours)",
    "swift-qsvr": "Swift-HB + Q-SVR (ours)", "bohb-hb": "BOHB sampler + Hyperband (ours)",
    "tpe-asha": "TPE + ASHA (ours)", "random-full": "random search, full training",
    "optuna-hyperband": "Optuna TPE + HyperbandPruner", "optuna-sha": "Optuna TPE + SuccessiveHalvingPruner",
    "ray-asha": "Ray ASHAScheduler", "ray-hyperband": "Ray HyperBandScheduler",
    "ray-bohb": "Ray HyperBandForBOHB + TuneBOHB",
}


def trials_for(method: str, max_epochs: int, eta: int, asha_trials: int, random_trials: int) -> int:
    if method in ("hyperband", "swift-svr", "swift-qsvr", "bohb-hb", "ray-hyperband", "ray-bohb"):
        return hyperband_trials(max_epochs, eta)
    if method == "random-full":
        return random_trials
    return asha_trials


def predictor_factory(name: str, seed: int):
    import predictors

    return lambda: predictors.build_predictor(name, {}, seed=seed)


def sim_parts(method: str, table: CurveTable, *, seed: int, max_epochs: int, eta: int, n_trials: int,
              space: dict[str, Any] | None = None):
    """``(core, row_source)`` for :func:`hpo.bench.simtime.simulate`."""
    from .peers import table_space

    space = space or table_space(table)
    if method in ("asha", "tpe-asha"):
        core = build_core("asha", options={"grace_period": 1, "reduction_factor": eta}, max_epochs=max_epochs)
        src = TPERows(table, seed, n_trials, space) if method == "tpe-asha" else PairedRows(table, seed, n_trials)
        return core, src
    if method in ("hyperband", "bohb-hb"):
        core = build_core("hyperband", options={"eta": eta}, max_epochs=max_epochs)
        src = BOHBRows(table, seed, n_trials, space) if method == "bohb-hb" else PairedRows(table, seed, n_trials)
        return core, src
    if method in ("swift-svr", "swift-qsvr"):
        core = build_core("swift", options={"eta": eta}, max_epochs=max_epochs,
                          predictor_factory=predictor_factory(method.split("-")[1], seed))
        return core, PairedRows(table, seed, n_trials)
    if method == "ray-asha":
        from hpo.ray.bench import RayASHACore

        return RayASHACore(max_epochs, eta), PairedRows(table, seed, n_trials)
    if method == "random-full":
        return CoreBase(max_epochs), PairedRows(table, seed, n_trials)
    raise ValueError(f"method {method!r} has no simulated version")
