"""A real headless Chromium for the UI tests, driven over the DevTools protocol (no Selenium):
start it, talk to a page, screenshot into ``test-artifacts/``.  Without a Chromium a test is
skipped with the reason (a fresh laptop); under CI (``CI`` set, as ``.ci/run`` does, which also
installs Debian's ``chromium``) a missing browser is a failure."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-unsafe-swiftshader"]  # software WebGL: TensorBoard draws its charts with it


def poll(what: str, fn, timeout: float, every: float = 1.0):
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class DevTools:
    """A minimal Chrome DevTools Protocol client over aiohttp's websocket (aiohttp comes with Ray)."""

    def __init__(self, ws):
        self.ws, self.n = ws, 0

    async def call(self, method: str, **params):
        self.n += 1
        await self.ws.send_json({"id": self.n, "method": method, "params": params})
        while True:
            msg = await self.ws.receive_json(timeout=30)
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    async def js(self, expression: str):
        res = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return res["result"].get("value")

    async def wait_text(self, needles: list[str], timeout: float = 30.0) -> str:
        deadline, text = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            try:
                text = await self.js("document.body ? document.body.innerText : ''") or ""
            except RuntimeError as exc:  # the page reloads (e.g. after the login): try again
                if "navigated" not in str(exc) and "context" not in str(exc):
                    raise
            if all(n in text for n in needles):
                return text
            await asyncio.sleep(0.5)
        raise AssertionError(f"page never showed {needles}; it shows: {text[-1500:]}")

    async def click_text(self, text: str) -> bool:
        """A real mouse click (pressed, released) on the innermost element showing ``text``."""
        rect = await self.js(f"(() => {{ const t = [...document.querySelectorAll('*')].filter(x => "
                             f"x.children.length === 0 && x.textContent.trim() === {text!r}); if (!t.length) return null;"
                             f" const r = t[t.length - 1].getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        if not rect:
            return False
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=rect[0], y=rect[1], button="left", clickCount=1)
        return True

    async def screenshot(self, name: str) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / name).write_bytes(base64.b64decode(shot["data"]))


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def chromium_or_skip() -> str:
    """The Chromium executable; skip (fail under CI) when there is none."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    why = "no chromium on PATH (Debian: apt-get install -y chromium; .ci/run installs it)"
    if under_ci():
        pytest.fail(f"{why}; CI must run the browser tests, not skip them")
    pytest.skip(f"{why}: this test drives a real headless browser")


def start_chromium(tmp_path, exe: str) -> tuple[subprocess.Popen, int]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "--window-size=1400,760", "about:blank"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    port_file = profile / "DevToolsActivePort"
    port = poll("chromium's DevTools port", lambda: port_file.exists() and port_file.read_text().split()[:1],
                 30, 0.2)
    return proc, int(port[0])


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, wait: float = 30) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=wait)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


async def open_page(port: int):
    """(aiohttp session, websocket) to the first page of the browser on DevTools ``port``."""
    import aiohttp

    targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
    page = next(t for t in targets if t["type"] == "page")
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
    return session, ws
