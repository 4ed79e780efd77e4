"""Model Registry aliases of the generators the synthesis stage registers
(``synthesis.registered_model_name``; docs/sharing.md, "Registry aliases").

- ``candidate``: set on every version the synthesis stage registers, i.e. the newest trained
  generator of its registered model, not yet judged by anyone. (``@latest`` is MLflow's own:
  the name is reserved, MLflow resolves it to the highest version number whoever registered it,
  and it cannot be set.)
- ``best``: after the comparison, on the version this run registered for the architecture whose
  verdict on the primary metric (KID) is "better than" every other architecture on every
  held-out set (95 % intervals excluding zero, ``metrics.verdicts``); the other compared
  architectures' registered models lose their ``best``, so at most one of them has it. When no
  architecture is separated so, no ``best`` alias moves (one log line says so).

Aliases a team sets itself (``champion``, ...) are never touched. Library code (no Kedro).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

CANDIDATE = "candidate"
BEST = "best"


def _client(client: Any = None) -> Any:
    if client is not None:
        return client
    from mlflow import MlflowClient

    return MlflowClient()


def set_candidate(name: str, version: str | int, client: Any = None) -> None:
    """Point ``models:/<name>@candidate`` at the version just registered."""
    _client(client).set_registered_model_alias(name, CANDIDATE, str(version))


def registered_version(
    name: str, run_id: str, architecture: str, client: Any = None
) -> str | None:
    """The version of ``name`` that run ``run_id`` registered for ``architecture``'s generator
    (one name can hold every architecture), the newest if several; None if none."""
    from cxr_synth.sharing.pyfunc import model_name

    client = _client(client)
    found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    models = {v.version: _logged_model_id(v) for v in found}
    mine = [int(version) for version, model_id in models.items()
            if model_id and client.get_logged_model(model_id).name == model_name(architecture)]  # fmt: skip
    return str(max(mine)) if mine else None


def _logged_model_id(version: Any) -> str | None:
    """The logged model a registered version was made from (MLflow 3 records it as the
    version's ``source``, ``models:/m-…``; not every store fills ``model_id``)."""
    source = version.source or ""
    return version.model_id or (source[len("models:/"):] if source.startswith("models:/m-") else None)


def promote_best(
    verdicts: pd.DataFrame, records: Iterable[Mapping[str, Any] | None], client: Any = None
) -> str | None:
    """Apply the ``best`` rule (module doc) to one run's comparison ``verdicts`` and the
    synthesis ``records`` of its architectures; returns ``models:/<name>@best``'s new target as
    ``models:/<name>/<version>``, or None when nothing moved."""
    from cxr_synth.metrics.verdicts import primary_metric, separated_best

    registered = {r["architecture"]: r for r in records
                  if r and r.get("registered_model_name") and r.get("mlflow_run_id")}  # fmt: skip
    if not registered:
        return None  # nothing registered in this run: no alias to keep
    metric = primary_metric(verdicts)
    winner = separated_best(verdicts, metric)
    if winner is None:
        logger.info("registry: no architecture is better than every other on %s (intervals "
                    "excluding zero): no %r alias moved", metric, BEST)  # fmt: skip
        return None
    record = registered.get(winner)
    client = _client(client)
    version = record and registered_version(
        record["registered_model_name"], record["mlflow_run_id"], winner, client
    )
    if not version:
        logger.info("registry: %s is better than every other architecture on %s, but no "
                    "version of it was registered by this run: no %r alias moved",
                    winner, metric, BEST)  # fmt: skip
        return None
    name = record["registered_model_name"]
    others = {r["registered_model_name"] for r in registered.values()} - {name}
    for other in sorted(others):
        if BEST in client.get_registered_model(other).aliases:
            client.delete_registered_model_alias(other, BEST)
    client.set_registered_model_alias(name, BEST, version)
    logger.info("registry: %s is better than every other architecture on %s: models:/%s@%s "
                "is version %s", winner, metric, name, BEST, version)  # fmt: skip
    return f"models:/{name}/{version}"
