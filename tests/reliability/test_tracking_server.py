"""Fault: the MLflow tracking server does not answer (refused, or silent)."""

import socket
import subprocess
import sys
import time

import pytest

from cxr_synth.runtime.tracking_server import (
    TrackingServerLost,
    TrackingServerUnreachable,
    check_tracking_server,
    lost_server,
)
from tests.conftest import run_kedro


def _use_server(workdir, uri: str) -> None:
    (workdir / "conf/local/mlflow.yml").write_text(f"server:\n  mlflow_tracking_uri: {uri}\n")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: connections refused


def test_a_refused_connection_stops_the_run_before_any_node(workdir):
    uri = f"http://127.0.0.1:{_closed_port()}"
    _use_server(workdir, uri)
    started = time.monotonic()
    with pytest.raises(TrackingServerUnreachable, match=rf"{uri} does not answer.*sqlite:///"):
        run_kedro(workdir, ["ingestion"])
    assert time.monotonic() - started < 60  # a bound, not a benchmark: MLflow retried ~4 min
    assert not (workdir / "data/01_raw/nih").exists()  # not even the demo data was made


def test_a_silent_server_is_given_up_within_the_timeout():
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(TrackingServerUnreachable, match="does not answer"):
            check_tracking_server(uri, timeout=1.0)
        assert time.monotonic() - started < 30  # gave up after its 1 s timeout, not minutes


def test_the_cli_prints_one_message_and_keeps_the_traceback_in_the_log(workdir):
    uri = f"http://127.0.0.1:{_closed_port()}"
    _use_server(workdir, uri)
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--pipelines", "ingestion"],
        cwd=workdir, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"Error: The MLflow tracking server {uri} does not answer" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) < 10
    assert "Traceback" in (workdir / "logs/last_error.log").read_text()


def test_a_server_lost_mid_run_is_named_only_for_connection_failures():
    """The one line of a run whose server died (tests/test_team_run.py kills a real one)."""
    from mlflow.exceptions import MlflowException

    uri = f"http://127.0.0.1:{_closed_port()}"
    refused = ConnectionRefusedError(111, "Connection refused")
    failed = MlflowException(f"API request to {uri}/api/2.0/mlflow/runs/log-batch failed with "
                             f"exception {refused}")  # fmt: skip
    failed.__context__ = refused  # as MLflow raises it, inside its except clause
    error = RuntimeError("kedro-mlflow could not log")
    error.__context__ = failed
    lost = lost_server(error, uri)
    assert isinstance(lost, TrackingServerLost) and "\n" not in str(lost)
    assert str(lost).startswith(f"The MLflow tracking server {uri} stopped answering")
    assert lost_server(RuntimeError("a node's own error"), uri) is None  # it stays as it was
    assert lost_server(error, "sqlite:///mlflow.db") is None  # a local store is not a server


def test_a_relative_sqlite_store_is_anchored_at_the_project(tmp_path):
    """Fault: a notebook in notebooks/ (or a second project in one process) opening its own
    empty ./mlflow.db instead of the project's."""
    from cxr_synth.runtime.tracking_server import anchor_sqlite_uri

    assert anchor_sqlite_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path}/mlflow.db"
    assert anchor_sqlite_uri("sqlite:////abs/mlflow.db", tmp_path) == "sqlite:////abs/mlflow.db"
    assert anchor_sqlite_uri("http://server:5000", tmp_path) == "http://server:5000"
    assert anchor_sqlite_uri(None, tmp_path) is None
