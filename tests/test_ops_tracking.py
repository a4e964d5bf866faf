"""``tracking: [tensorboard, mlflow]``: a real run logs its curves to TensorBoard event files and an
MLflow store under the experiment folder, and both tools' own UIs, served on 127.0.0.1 and seen in
a real headless Chromium, show the runs and their loss curves (screenshots in ``test-artifacts/``)."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import urllib.request

import pytest

from browser import ARTIFACTS, DevTools, chromium_or_skip, open_page, poll, start_chromium, stop
from conftest import PY

pytestmark = pytest.mark.ray


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(cmd: list[str], port: int, tmp_path, name: str) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def up():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200
        except OSError:
            return False
    try:
        poll(f"{name} on port {port}", up, 90, 0.5)
    except AssertionError:
        stop(proc)
        raise AssertionError((tmp_path / f"{name}.log").read_text()[-2000:]) from None
    return proc


async def _look(devtools_port: int, pages: list[tuple[str, str | None, list[str], str]]) -> dict[str, str]:
    """Visit each (url, steps, texts that must show, screenshot name); steps are ``|``-separated
    ``click:TEXT`` (a real mouse click) or ``PLACEHOLDER:TEXT`` (type into that search field)."""
    session, ws = await open_page(devtools_port)
    try:
        b = DevTools(ws)
        await b.call("Page.enable")
        seen = {}
        for url, tab, needles, shot in pages:
            await b.call("Page.navigate", url=url)
            for step in (tab or "").split("|") if tab else []:
                kind, _, arg = step.partition(":")
                if kind == "click":  # a tab
                    await b.wait_text([arg], timeout=60)
                    assert await b.click_text(arg), f"no {arg!r} tab on {url}"
                else:  # type into the search field whose placeholder starts with ``kind``
                    await b.wait_text(["hpo_trial_replay"], timeout=60)
                    await asyncio.sleep(1)
                    found = await b.js(f"(() => {{ const i = document.querySelector('input[placeholder^=\"{kind}\"]');"
                                       f" if (!i) return false; i.focus(); return true; }})()")
                    assert found, f"no {kind!r} field on {url}"
                    await b.call("Input.insertText", text=arg)
            try:
                seen[shot] = await b.wait_text(needles, timeout=60)
            except AssertionError:
                await b.screenshot("failed-" + shot)
                raise
            await asyncio.sleep(2)  # let the charts draw before the screenshot
            await b.screenshot(shot)
        return seen
    finally:
        await ws.close()
        await session.close()


def test_tracking_writes_tensorboard_and_mlflow_and_their_uis_show_the_runs(ray_cluster, tmp_path, mlpf_table):
    import hpo

    exe = chromium_or_skip()
    res = hpo.tune("replay", space={"row": hpo.randint(0, 295)}, metric="loss", mode="min", num_samples=3,
                   max_epochs=6, seed=3, storage=str(tmp_path), name="tracked", verbose=False,
                   trainable_args={"table": str(mlpf_table)}, tracking=["tensorboard", "mlflow"])
    exp = tmp_path / "tracked"
    events = sorted(exp.glob("*/events.out.tfevents.*"))
    assert len(events) == 3, sorted(p.name for p in exp.iterdir())

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{exp / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3
    for run in runs:  # every epoch's loss is in MLflow, equal to the curve the service recorded
        history = client.get_metric_history(run.info.run_id, "loss")
        assert len(history) == 6
    logged = sorted(round(m.value, 3) for run in runs for m in client.get_metric_history(run.info.run_id, "loss"))
    assert logged == sorted(round(v, 3) for v in res.curves["loss"])

    ml_port, tb_port = _free_port(), _free_port()
    servers = [
        _serve([PY, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{exp / 'mlflow.db'}",
                "--host", "127.0.0.1", "--port", str(ml_port), "--workers", "1"], ml_port, tmp_path, "mlflow"),
        _serve([PY, "-m", "tensorboard.main", "--logdir", str(exp), "--host", "127.0.0.1", "--port", str(tb_port)],
               tb_port, tmp_path, "tensorboard"),
    ]
    browser, devtools = start_chromium(tmp_path, exe)
    try:
        run = runs[0]
        seen = asyncio.run(_look(devtools, [
            (f"http://127.0.0.1:{ml_port}/#/experiments/{experiment.experiment_id}/runs",
             None, [r.info.run_name for r in runs], "mlflow-runs.png"),
            (f"http://127.0.0.1:{ml_port}/#/experiments/{experiment.experiment_id}/runs/{run.info.run_id}"
             "", "click:Model metrics|Search metric charts:loss", ["loss", run.info.run_name], "mlflow-run.png"),
            (f"http://127.0.0.1:{tb_port}/#timeseries", "Filter tags:tune/loss", ["ray/tune/loss", "hpo_trial_replay"],
             "tensorboard-loss.png"),
        ]))
    finally:
        stop(browser)
        for proc in servers:
            stop(proc)
    assert all(r.info.run_name in seen["mlflow-runs.png"] for r in runs)
    for shot in ("mlflow-runs.png", "mlflow-run.png", "tensorboard-loss.png"):
        assert (ARTIFACTS / shot).stat().st_size > 10_000
