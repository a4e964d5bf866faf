"""HPO monitoring metrics: the accounting on hand-made events, and a real Swift-Hyperband run on the
shared Ray instance whose metrics are scraped from the node's Prometheus endpoint."""
from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest

from hpo.metrics import MetricsAccount, classify_reason, make_metrics_callback, scrape
from hpo.session import EPOCH_KEY


class FakeScheduler:
    def __init__(self, reasons=None, decisions=None, fit_seconds=None):
        self.reasons = reasons or {}
        self.core = SimpleNamespace(decisions=decisions or [], pool=SimpleNamespace(fit_seconds=fit_seconds or []))

    def stop_reasons(self):
        return dict(self.reasons)


def _feed(acc, tid, losses, start=1):
    for i, v in enumerate(losses, start=start):
        acc.on_result(tid, {EPOCH_KEY: i, "loss": v})


def test_classify_reason():
    assert classify_reason("rung 4") == "rung"
    assert classify_reason("not promoted from rung 2") == "rung"
    assert classify_reason("predictor at epoch 3") == "predictor"
    assert classify_reason("non-finite metric") == "nonfinite"
    assert classify_reason("completed") == "completed"
    assert classify_reason("ended by the trainable at epoch 2") == "other"
    assert classify_reason(None) is None


def test_account_counts_states_epochs_and_predictor_error():
    decisions = [
        {"trial_id": "b", "bracket": 0, "rung": 4, "epoch": 2, "predicted": 0.5, "threshold": 0.6, "continued": True},
        {"trial_id": "c", "bracket": 0, "rung": 4, "epoch": 2, "predicted": 0.9, "threshold": 0.6, "continued": False},
    ]
    sched = FakeScheduler({"a": "rung 2", "c": "predictor at epoch 2", "e": "non-finite metric"},
                          decisions, fit_seconds=[0.01, 0.02])
    acc = MetricsAccount(sched, metric="loss", mode="min", max_epochs=8)
    _feed(acc, "a", [1.0, 0.9])
    _feed(acc, "b", [0.8, 0.7])
    _feed(acc, "b", [0.7], start=2)  # a resumed trial re-reports its last epoch: not counted twice
    _feed(acc, "b", [0.6, 0.45], start=3)  # reaches rung 4: true 0.45 vs predicted 0.5
    _feed(acc, "c", [1.1, 1.0])
    _feed(acc, "d", [0.9] * 8)
    acc.on_result("e", {EPOCH_KEY: 1, "loss": float("nan")})
    for tid, st in {"a": "TERMINATED", "b": "PAUSED", "c": "TERMINATED", "d": "TERMINATED", "e": "TERMINATED",
                    "f": "PENDING"}.items():
        acc.set_status(tid, st)
    snap = acc.snapshot()
    assert snap["trials"] == {"pending": 1, "running": 0, "paused": 1, "completed": 1, "stopped_rung": 1,
                              "stopped_predictor": 1, "stopped_nonfinite": 1, "stopped_other": 0, "error": 0}
    assert snap["epochs_consumed"] == 2 + 4 + 2 + 8 + 1
    assert snap["epochs_saved"] == (8 - 2) + (8 - 2) + (8 - 1)
    assert snap["best"] == pytest.approx(0.45)
    assert snap["decisions"] == {"continued": 1, "stopped": 1}
    assert snap["abs_error"]["mean"] == pytest.approx(0.05) and snap["abs_error"]["last"] == pytest.approx(0.05)
    assert snap["fit_seconds"] == [0.01, 0.02]
    # JSON-able state round trip
    other = MetricsAccount(sched, metric="loss", mode="min", max_epochs=8)
    other.set_state(acc.get_state())
    assert other.snapshot() == snap


def test_account_mode_max_compares_in_scheduler_units():
    # cores minimise: for mode=max the adapter hands them -accuracy, and predictions are in those units
    dec = [{"trial_id": "a", "bracket": 0, "rung": 2, "epoch": 1, "predicted": -0.7, "threshold": -0.5,
            "continued": True}]
    acc = MetricsAccount(FakeScheduler(decisions=dec), metric="acc", mode="max", max_epochs=4)
    acc.on_result("a", {EPOCH_KEY: 1, "acc": 0.5})
    assert acc.snapshot()["abs_error"] is None  # not at the rung yet
    acc.on_result("a", {EPOCH_KEY: 2, "acc": 0.8})
    snap = acc.snapshot()
    assert snap["best"] == pytest.approx(0.8) and snap["abs_error"]["mean"] == pytest.approx(0.1)


def test_scheduler_without_reasons_counts_early_ends_as_other():
    from ray.tune.schedulers import FIFOScheduler

    cb = make_metrics_callback(FIFOScheduler(), metric="loss", mode="min", experiment="x", max_epochs=5)
    trials = [SimpleNamespace(trial_id="a", status="RUNNING"), SimpleNamespace(trial_id="b", status="RUNNING")]
    for e in (1, 2, 3):
        cb.on_trial_result(0, trials, trials[0], {EPOCH_KEY: e, "loss": 1.0 / e})
    trials[0].status = "TERMINATED"
    cb.on_trial_complete(0, trials, trials[0])
    snap = cb.export()
    assert snap["trials"]["stopped_other"] == 1 and snap["trials"]["running"] == 1
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
    n_pred = int(res.trials["stop_reason"].str.startswith("predictor").sum())
    assert n_pred >= 1, res.trials["stop_reason"].tolist()
    early = res.trials[res.trials["status"] == "stopped"]
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
    assert best == [pytest.approx(float(res.curves["loss"].min()), rel=1e-6)]
