"""The Ray dashboard during a real ``python -m hpo.run``, seen through its REST API (with the
cluster's token) and in a real headless Chromium driven over the DevTools protocol: the driver job
and the trial actors must be shown.  The UI's own login step is used (its token dialog), not a
disabled auth.  Screenshots go to ``test-artifacts/`` at the repo root.  The same run also checks
the HPO metrics on the node's Prometheus endpoint and a report of the live results directory.

Without a Chromium the test is skipped with the reason (a fresh laptop); under CI (``CI`` set, as
``.ci/run`` does, which also installs Debian's ``chromium``) a missing browser is a failure."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from browser import ARTIFACTS, DevTools, chromium_or_skip, poll as _poll, start_chromium as _start_chromium, \
    stop as _stop
from conftest import MLPF_TABLE, PY, ROOT
from hpo.metrics import scrape

pytestmark = pytest.mark.ray


def _token() -> str:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    with open(path) as fh:
        return fh.read().strip()


def _get(url: str, token: str | None = None, timeout: float = 10.0):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read().decode() or "null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def _find_key(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            found = _find_key(v, key)
            if found is not None:
                return found
    return None


async def _browse(port: int, dash: str, token: str, job_id: str) -> dict[str, str]:
    import aiohttp

    targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
    page = next(t for t in targets if t["type"] == "page")
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
        b = DevTools(ws)
        await b.call("Page.enable")
        await b.call("Page.navigate", url=f"{dash}/#/jobs")
        # Token auth: a fresh browser gets the dashboard's login dialog; type the token, submit.
        await b.wait_text(["Authentication Token Required"])
        assert await b.js("(() => { const i = document.querySelector('input[type=password]');"
                          " if (!i) return false; i.focus(); return true; })()"), "no token input in the dialog"
        await b.call("Input.insertText", text=token)
        assert await b.js("(() => { const s = [...document.querySelectorAll('button')]"
                          ".find(x => x.innerText.trim().toUpperCase() === 'SUBMIT');"
                          " if (!s) return false; s.click(); return true; })()"), "no SUBMIT button"
        jobs = await b.wait_text([job_id, "hpo.run", "--name dash", "RUNNING"])
        assert "Authentication Token Required" not in jobs
        await b.screenshot("dashboard-jobs.png")
        await b.call("Page.navigate", url=f"{dash}/#/actors")
        actors = await b.wait_text(["ImplicitFunc", "hpo_trial_replay", "ALIVE", job_id])
        await b.screenshot("dashboard-actors.png")
        return {"jobs": jobs, "actors": actors}


def test_dashboard_shows_the_running_experiment(tmp_path):
    exe = chromium_or_skip()  # before the run starts: nothing to clean up when skipping
    ARTIFACTS.mkdir(exist_ok=True)
    table = MLPF_TABLE.resolve()
    space = tmp_path / "space.yaml"
    space.write_text(f"name: dash\ntrainable: {{name: replay, args: {{table: '{table}', seconds_per_epoch: 0.5}}}}\n"
                     "metric: loss\nmode: min\nhyperparameters: {row: {type: int, low: 0, high: 295}}\n"
                     "scheduler: {name: fifo}\nsearch: {name: random}\nresources: {max_concurrent: 2}\nseed: 0\n")
    env = {**os.environ}
    env.pop("RAY_ADDRESS", None)
    run = subprocess.Popen([PY, "-m", "hpo.run", "--space", str(space), "--num-samples", "4", "--max-epochs", "30",
                            "--storage", str(tmp_path / "r"), "--name", "dash", "--num-cpus", "2"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(run.stdout.readline, "")), daemon=True)
    reader.start()
    browser, t0, phases = None, time.monotonic(), {}

    def phase(name):
        phases[name] = round(time.monotonic() - t0, 1)

    try:
        url_line = _poll("the dashboard URL", lambda: next(
            (x for x in lines if x.startswith("[hpo] Ray dashboard: http://")), None), 60, 0.2)
        dash = url_line.split(": ", 1)[1].strip().rstrip("/")
        phase("dashboard_url")
        # REST: auth is on, our token is accepted, the driver job and trial actors are listed.
        assert _get(f"{dash}/api/authentication_mode")[1] == {"authentication_mode": "token"}
        token = _token()
        assert _get(f"{dash}/api/jobs/")[0] == 401
        job = _poll("the driver job", lambda: next(
            (j for j in _get(f"{dash}/api/jobs/", token)[1] or [] if j["type"] == "DRIVER"
             and j["status"] == "RUNNING" and "hpo.run" in j["entrypoint"] and "--name dash" in j["entrypoint"]),
            None), 30)
        job_id = job["job_id"]

        def trial_actors():
            status, body = _get(f"{dash}/api/v0/actors?limit=1000", token)
            actors = body["data"]["result"]["result"] if status == 200 else []
            return [a for a in actors if a["class_name"] == "ImplicitFunc" and a["job_id"] == job_id
                    and a["state"] == "ALIVE"]

        assert len(_poll("trial actors", trial_actors, 30)) >= 1
        phase("rest_checked")
        # The browser.
        browser, port = _start_chromium(tmp_path, exe)
        pages = asyncio.run(_browse(port, dash, token, job_id))
        (ARTIFACTS / "dashboard-pages.txt").write_text("\n\n=====\n\n".join(f"{k}:\n{v}" for k, v in pages.items()))
        assert (ARTIFACTS / "dashboard-jobs.png").stat().st_size > 10_000
        assert (ARTIFACTS / "dashboard-actors.png").stat().st_size > 10_000
        _stop(browser)
        phase("browser_checked")
        # A report of the live results directory (curves.parquet only, flushed during the run).
        from hpo.reporting import make_report

        live = tmp_path / "r" / "dash"
        _poll("curves.parquet", lambda: (live / "curves.parquet").exists(), 30)
        # hyperparameters come from Tune's per-trial result.json, which Tune writes a little later
        rep = _poll("a live report that knows the hyperparameters", lambda: (
            r if "row" in (r := make_report(live, tmp_path / "live-report")).table.columns else None), 60, 2)
        assert rep.live and sum(rep.counts["curves"].values()) >= 1 and rep.plots["curves"].exists()
        # a live snapshot may hold one finished trial: then the parallel plot is skipped, saying so
        assert rep.counts.get("parallel_lines", 0) >= 2 or \
            any(n.startswith("parallel-coordinates plot skipped") for n in rep.notes)
        phase("live_report")
        # HPO metrics on the node's Prometheus endpoint (exported about every 10 s).
        _, nodes = _get(f"{dash}/nodes?view=summary", token)
        metrics_url = f"http://127.0.0.1:{_find_key(nodes, 'metricsExportPort')}/metrics"

        def consumed():
            if run.poll() is not None:
                raise AssertionError("the run ended before its HPO metrics were seen")
            return [v for k, v in scrape(metrics_url, "ray_hpo_epochs_consumed_total").items()
                    if ("experiment", "dash") in k and v > 0]

        assert _poll("ray_hpo_epochs_consumed_total{experiment=dash}", consumed, 40, 2)
        phase("metrics_seen")
        assert run.wait(timeout=120) == 0, "".join(lines)[-3000:]
        phase("run_finished")
    finally:
        (ARTIFACTS / "dashboard-timings.json").write_text(json.dumps(phases) + "\n")
        if browser is not None:
            _stop(browser)
        _stop(run, signal.SIGINT, 60)
        reader.join(timeout=10)
