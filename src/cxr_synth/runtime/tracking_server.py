"""Fail fast when the MLflow tracking server does not answer (before any node runs), and end a
run whose server stopped answering during it with one line.

MLflow's HTTP client retries a dead server for minutes (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``: a
server restarted within that time is survived) and then raises a raw ``MlflowException``; one
bounded request up front turns that into one clear line, and ``lost_server`` does the same for
a server lost mid-run.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from cxr_synth.runtime.errors import UserError

LOCAL_STORE = "sqlite:///mlflow.db"


class TrackingServerUnreachable(UserError):
    """The configured MLflow tracking server did not answer."""


def check_tracking_server(uri: str | None, timeout: float = 5.0) -> None:
    """Raise :class:`TrackingServerUnreachable` if ``uri`` is an HTTP(S) server that does not
    answer within ``timeout`` seconds. Any HTTP response (even 401/404) counts as an answer;
    local stores (sqlite, files) are not checked."""
    if not uri or not uri.lower().startswith(("http://", "https://")):
        return
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # it answered
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise TrackingServerUnreachable(
            f"The MLflow tracking server {uri} does not answer ({reason}). Start it, or use the "
            f"local store: set server.mlflow_tracking_uri: {LOCAL_STORE} in "
            "conf/<env>/mlflow.yml (conf/local/mlflow.yml for the default environment)."
        ) from None


class TrackingServerLost(UserError):
    """The MLflow tracking server stopped answering during a run."""


# MLflow's REST client: "API request to <url> failed with exception <requests' error>".
_FAILED_REQUEST = re.compile(r"API request to \S+ failed with exception")


def _connection_failure(error: BaseException | None) -> bool:
    """Whether a failed connection (refused, reset, retries exhausted) is in ``error``'s
    cause/context chain."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        kind = type(error)
        from_http_client = kind.__module__.startswith(("requests", "urllib3"))
        if isinstance(error, ConnectionError) or _FAILED_REQUEST.search(str(error)):
            return True
        if from_http_client and "connection" in kind.__name__.lower():  # requests, urllib3
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def lost_server(
    error: BaseException, uri: str | None, timeout: float = 5.0
) -> TrackingServerLost | None:
    """A one-line :class:`TrackingServerLost` when ``error`` comes from a failed connection and
    the HTTP(S) tracking server ``uri`` does not answer now (one bounded request); else None."""
    if not uri or not uri.lower().startswith(("http://", "https://")):
        return None
    if not _connection_failure(error):
        return None
    try:
        check_tracking_server(uri, timeout)
    except TrackingServerUnreachable:
        return TrackingServerLost(
            f"The MLflow tracking server {uri} stopped answering during the run (outputs saved "
            "before that are intact). Start it again and rerun, or resume with the --from-nodes "
            "that Kedro's log above suggests."
        )
    return None


@contextlib.contextmanager
def _no_retries() -> Iterator[None]:
    """MLflow's HTTP requests fail at once (no retries, a short timeout) inside the block."""
    names = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def abandon_active_runs() -> None:
    """End this process's active MLflow runs (the run stack) without waiting on a server that
    is gone: each is marked FAILED if the server answers at once, else just forgotten here."""
    import mlflow

    with _no_retries():
        while mlflow.active_run() is not None:
            with contextlib.suppress(Exception):  # end_run pops the run before it calls out
                mlflow.end_run("FAILED")


def anchor_sqlite_uri(uri: str | None, project: str | os.PathLike) -> str | None:
    """``sqlite:///mlflow.db`` (relative to wherever Python runs: a notebook in ``notebooks/``
    would start an empty store there) as an absolute URI inside ``project``; others unchanged."""
    prefix = "sqlite:///"
    if not uri or not uri.startswith(prefix) or uri.startswith(prefix + "/"):
        return uri
    return prefix + str((Path(project) / uri[len(prefix):]).resolve())


def ensure_experiment(
    uri: str | None, name: str, *, artifact_location: str | None = None,
    tags: dict[str, str] | None = None,
) -> None:  # fmt: skip
    """Create the MLflow experiment ``name`` unless it exists.

    Runs started together against one store (a study's parallel seeds, two users) race to create
    it: kedro-mlflow looks it up, then creates it, and the slower run dies on MLflow's
    ``RESOURCE_ALREADY_EXISTS``. Created here first, the race is harmless: the loser finds it.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(uri)
    if client.get_experiment_by_name(name) is not None:
        return
    try:
        client.create_experiment(name, artifact_location=artifact_location, tags=tags)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
