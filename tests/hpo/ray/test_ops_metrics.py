"""HPO monitoring metrics: the accounting on hand-made events, and a real Swift-Hyperband run on the
shared Ray instance whose metrics are scraped from the node's Prometheus endpoint."""
from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest

import json

from hpo.metrics import MetricsAccount, scrape
from hpo.protocols import EPOCH_KEY, Outcome, StopReason
from hpo.results import CurveStore


class FakeDiagnostics:
    def __init__(self, decisions=None, fit_seconds=None):
        self.decisions, self.fits = decisions or [], fit_seconds or []

    def decision_log(self):
        return list(self.decisions)

    def predictor_fit_seconds(self):
        return list(self.fits)

    def run_notes(self):
        return []


def _account(reasons=None, diagnostics=None, metric="loss", mode="min", max_epochs=8):
    store = CurveStore(metric, mode)
    acc = MetricsAccount(store, reasons=lambda: dict(reasons or {}), diagnostics=diagnostics, max_epochs=max_epochs)
    return store, acc


def _feed(store, acc, tid, losses, start=1, metric="loss"):
    for i, v in enumerate(losses, start=start):
        result = {EPOCH_KEY: i, metric: v}
        store.add(tid, result, {})
        acc.on_result(tid, result)


def test_account_counts_states_epochs_and_predictor_error():
    decisions = [
        {"trial_id": "b", "bracket": 0, "rung": 4, "epoch": 2, "predicted": 0.5, "threshold": 0.6, "continued": True},
        {"trial_id": "c", "bracket": 0, "rung": 4, "epoch": 2, "predicted": 0.9, "threshold": 0.6, "continued": False},
    ]
    reasons = {"a": StopReason(Outcome.STOPPED_RUNG, rung=2), "c": StopReason(Outcome.STOPPED_PREDICTOR, epoch=2),
               "e": StopReason(Outcome.NON_FINITE, epoch=1)}
    diag = FakeDiagnostics(decisions, fit_seconds=[0.01, 0.02])
    store, acc = _account(reasons, diag)
    _feed(store, acc, "a", [1.0, 0.9])
    _feed(store, acc, "b", [0.8, 0.7])
    _feed(store, acc, "b", [0.7], start=2)  # a resumed trial re-reports its last epoch: not counted twice
    _feed(store, acc, "b", [0.6, 0.45], start=3)  # reaches rung 4: true 0.45 vs predicted 0.5
    _feed(store, acc, "c", [1.1, 1.0])
    _feed(store, acc, "d", [0.9] * 8)
    _feed(store, acc, "e", [float("nan")])
    for tid, st in {"a": "TERMINATED", "b": "PAUSED", "c": "TERMINATED", "d": "TERMINATED", "e": "TERMINATED",
                    "f": "PENDING"}.items():
        acc.set_status(tid, st)
    snap = acc.snapshot()
    assert {k: v for k, v in snap["trials"].items() if v} == {
        "pending": 1, "paused": 1, "completed": 1, "stopped_rung": 1, "stopped_predictor": 1, "non_finite": 1}
    assert set(snap["trials"]) == {"pending", "running", "paused"} | {o.value for o in Outcome}
    assert snap["epochs_consumed"] == 2 + 4 + 2 + 8 + 1
    assert snap["epochs_saved"] == (8 - 2) + (8 - 2) + (8 - 1)
    assert snap["best"] == pytest.approx(0.45)  # b's last value: the same "best" as the trials table
    assert snap["decisions"] == {"continued": 1, "stopped": 1}
    assert snap["abs_error"]["mean"] == pytest.approx(0.05) and snap["abs_error"]["last"] == pytest.approx(0.05)
    assert snap["fit_seconds"] == [0.01, 0.02]
    # JSON-able state round trip (the curves come back through the store, saved once)
    store2, other = _account(reasons, diag)
    store2.set_state(json.loads(json.dumps(store.get_state())))
    other.set_state(json.loads(json.dumps(acc.get_state())))
    assert other.snapshot() == snap


def test_account_mode_max_compares_in_scheduler_units():
    # cores minimise: for mode=max the adapter hands them -accuracy, and predictions are in those units
    dec = [{"trial_id": "a", "bracket": 0, "rung": 2, "epoch": 1, "predicted": -0.7, "threshold": -0.5,
            "continued": True}]
    store, acc = _account(diagnostics=FakeDiagnostics(dec), metric="acc", mode="max", max_epochs=4)
    _feed(store, acc, "a", [0.5], metric="acc")
    assert acc.snapshot()["abs_error"] is None  # not at the rung yet
    _feed(store, acc, "a", [0.8], start=2, metric="acc")
    snap = acc.snapshot()
    assert snap["best"] == pytest.approx(0.8) and snap["abs_error"]["mean"] == pytest.approx(0.1)


def test_scheduler_without_reasons_counts_early_ends_as_ended_early():
    from ray.tune.schedulers import FIFOScheduler

    from hpo.ray.metrics import HpoMetricsCallback
    from hpo.ray.scheduler import view

    sched = view(FIFOScheduler())
    store = CurveStore("loss", "min")
    cb = HpoMetricsCallback(MetricsAccount(store, reasons=sched.stop_reasons, diagnostics=sched.diagnostics(),
                                           max_epochs=5), experiment="x")
    trials = [SimpleNamespace(trial_id="a", status="RUNNING"), SimpleNamespace(trial_id="b", status="RUNNING")]
    for e in (1, 2, 3):
        store.add("a", {EPOCH_KEY: e, "loss": 1.0 / e}, {})
        cb.on_trial_result(0, trials, trials[0], {EPOCH_KEY: e, "loss": 1.0 / e})
    trials[0].status = "TERMINATED"
    cb.on_trial_complete(0, trials, trials[0])
    snap = cb.export()
    assert snap["trials"]["ended_early"] == 1 and snap["trials"]["running"] == 1
    assert snap["epochs_saved"] == 0 and snap["epochs_consumed"] == 3 and snap["decisions"]["stopped"] == 0


def _metrics_url() -> str:
    import ray

    node = next(n for n in ray.nodes() if n["Alive"])
    return f"http://127.0.0.1:{node['MetricsExportPort']}/metrics"


@pytest.mark.ray
def test_swift_run_exports_metrics_to_prometheus_endpoint(ray_cluster, tmp_path, mlpf_table):
    """A real Swift-Hyperband (ν-SVR) run through the service; the values on Ray's metrics endpoint
    must equal what the run did (from its trials, curves and predictor decisions)."""
    import pandas as pd

    import hpo

    experiment = f"metrics-{uuid.uuid4().hex[:6]}"
    res = hpo.tune("replay", space={"row": hpo.randint(0, 295)}, metric="loss", mode="min", seed=1,
                   max_epochs=8, scheduler={"name": "swift", "eta": 2, "d": 4}, predictor="svr",
                   storage=str(tmp_path), name=experiment, trainable_args={"table": str(mlpf_table)},
                   verbose=False)
    epochs = int(res.trials["epochs"].sum())
    n_pred = int((res.trials["outcome"] == "stopped_predictor").sum())
    assert n_pred >= 1, res.trials["stop_reason"].tolist()
    early = res.trials[res.trials["outcome"].isin(["stopped_rung", "stopped_predictor", "non_finite"])]
    saved_expected = int((8 - early["epochs"]).sum())
    preds = pd.read_parquet(tmp_path / experiment / "predictions.parquet")

    url, tag = _metrics_url(), ("experiment", experiment)
    deadline, got = time.monotonic() + 40, {}
    consumed, trials = {}, {}
    while time.monotonic() < deadline:  # Ray's agent exports every ~10 s
        consumed = {k: v for k, v in scrape(url, "ray_hpo_epochs_consumed_total").items() if tag in k}
        trials = {dict(k)["state"]: v for k, v in scrape(url, "ray_hpo_trials").items() if tag in k}
        if consumed and list(consumed.values())[0] == epochs and trials.get("stopped_predictor") == n_pred:
            got = {"consumed": consumed, "trials": trials}
            break
        time.sleep(2)
    assert got, f"metrics not exported as expected: consumed={consumed} trials={trials}"
    saved = scrape(url, "ray_hpo_epochs_saved")
    assert [v for k, v in saved.items() if tag in k] == [saved_expected]
    fits = [v for k, v in scrape(url, "ray_hpo_predictor_fit_seconds_count").items() if tag in k]
    assert len(fits) == 1 and fits[0] >= preds[["rung", "epoch"]].drop_duplicates().shape[0] >= 1
    best = [v for k, v in scrape(url, "ray_hpo_best_metric").items() if tag in k]
    assert best == [pytest.approx(float(res.trials["loss"].min()), rel=1e-6)]
