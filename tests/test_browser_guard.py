"""The UI tests' browser guard: skips with its reason on a machine without Chromium, fails
under CI (where .ci/run installs it)."""
from __future__ import annotations

import pytest

import browser as dash


def test_missing_browser_skips_with_a_reason(monkeypatch):
    monkeypatch.setattr(dash.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium on PATH"):
        dash.chromium_or_skip()


@pytest.mark.parametrize("value", ["true", "1", "True"])
def test_missing_browser_fails_under_ci(monkeypatch, value):
    monkeypatch.setattr(dash.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        dash.chromium_or_skip()


def test_present_browser_is_used(monkeypatch):
    monkeypatch.setattr(dash.shutil, "which", lambda name: "/opt/bin/chromium" if name == "chromium" else None)
    monkeypatch.setenv("CI", "true")
    assert dash.chromium_or_skip() == "/opt/bin/chromium"
