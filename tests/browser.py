"""Headless Chromium for the tests that look at a rendered page (kedro-viz, the MLflow UI, the
HTML report): offline (only 127.0.0.1 resolves), a fresh profile per call."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_NAMES = (
    "chromium",
    "chromium-browser",
    "chromium-headless-shell",  # Debian's chromium-headless-shell package
    "headless_shell",
    "google-chrome",
    "google-chrome-stable",
)
BROWSER = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
WINDOW = (1400, 900)
needs_browser = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium found (looked for: " + ", ".join(CHROMIUM_NAMES) + "); install "
    "Debian's `chromium` or `chromium-headless-shell` package "
    "(apt-get install chromium-headless-shell) to run this check",
)


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """One headless Chromium call on ``url`` (20 s of virtual time for the page's scripts)."""
    return subprocess.run(
        [
            BROWSER, "--headless", "--disable-gpu", "--no-sandbox",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=20000",
            # Offline: only 127.0.0.1 resolves (pages may link web fonts).
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-breakpad", f"--user-data-dir={profile}", *args, url,
        ],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def screenshot(url: str, path: Path) -> Path:
    done = chromium(url, path.with_suffix(".profile"), f"--screenshot={path}")
    assert path.is_file(), f"no screenshot ({done.returncode}):\n{done.stderr[-3000:]}"
    return path


def rendered_dom(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran."""
    return chromium(url, profile, "--dump-dom").stdout


def visible_text(dom: str) -> str:
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))
