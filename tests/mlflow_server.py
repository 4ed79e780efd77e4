"""A real `mlflow server` for tests: 127.0.0.1, a free port, sqlite in a folder, artifacts served
through the server (``--artifacts-destination``, as a team's server does), killed by its own
process group when done."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
STARTUP_TIMEOUT_S = 180


@contextlib.contextmanager
def mlflow_server(folder: Path, backend: Path | None = None) -> Iterator[str]:
    """Serve ``backend`` (default: a new ``folder/mlflow.db``); yields the server's URL."""
    with mlflow_server_process(folder, backend) as (url, _):
        yield url


@contextlib.contextmanager
def mlflow_server_process(
    folder: Path, backend: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``mlflow_server``, yielding the URL and the server's process (its own process group:
    ``os.killpg(process.pid, signal.SIGKILL)`` kills the server mid-test)."""
    backend = backend or folder / "mlflow.db"
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{backend}",
             "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                with _OPENER.open(url + "/health", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("mlflow server did not start:\n" + log_path.read_text()[-3000:])
                time.sleep(1)
        yield url, process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
