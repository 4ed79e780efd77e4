"""Fail fast when the MLflow tracking server does not answer (before any node runs).

MLflow's HTTP client retries a dead server for minutes and then raises a raw
``MlflowException``; one bounded request up front turns that into one clear line.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
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
