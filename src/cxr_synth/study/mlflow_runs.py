"""The MLflow side of a study: the tags ``kedro study run`` puts on its runs, the names it
accepts, and the query for the finished seed runs (``MlflowStudyDataset`` and the runner read
them).

``kedro study run studies/<file>.yml`` (``cxr_synth.study.runner``) runs one ``kedro run`` per
seed (and per variant, when the file lists ``variants:``) and tags each one's MLflow parent run
``cxr_synth.study=<name>``, ``cxr_synth.study_role=seed``, ``cxr_synth.study_seed=<k>``,
``cxr_synth.study_config=<hash>`` and, for a variant, ``cxr_synth.study_variant=<variant>``.
"""

from __future__ import annotations

import re
from typing import Any

from cxr_synth.runtime.schema import ParameterError

STUDY_TAG = "cxr_synth.study"
ROLE_TAG = "cxr_synth.study_role"
SEED_TAG = "cxr_synth.study_seed"
CONFIG_TAG = "cxr_synth.study_config"
VARIANT_TAG = "cxr_synth.study_variant"
ATTEMPT_TAG = "cxr_synth.study_attempt"  # one id per session: which run is this process's
PARENT_TAG = "mlflow.parentRunId"

STUDY_NAME = re.compile(r"^(?!\.+$)[A-Za-z0-9_.-]+$")  # not "." or "..": it names a folder
VARIANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # no '.': it is a part of metric names


def check_study_name(name: str) -> str:
    """``name`` if it can be a study name (letters, digits, ``_ . -``), else a user error (a
    :class:`ParameterError`: a study file's model checks it too)."""
    if not name or not STUDY_NAME.match(name):
        raise ParameterError(
            f"Study name {name!r} is not valid: use letters, digits, '_', '.' or '-', not only "
            "dots (it becomes an MLflow tag and a folder name)."
        )
    return name


def check_variant_name(name: Any) -> str:
    """``name`` if it can name a study variant (letters, digits, ``_ -``), else a user error (a
    :class:`ParameterError`: a study file's model checks it too)."""
    if not isinstance(name, str) or not VARIANT_NAME.match(name):
        raise ParameterError(
            f"Variant name {name!r} is not valid: use 1-64 letters, digits, '_' or '-' (it "
            "becomes an MLflow tag, a folder and part of metric names)."
        )
    return name


def finished_study_runs(client: Any, study: str) -> dict[tuple[str | None, int], Any]:
    """The newest FINISHED MLflow parent run of each (variant, seed) of ``study``:
    ``{(variant, seed): Run}``, ``variant`` None for runs without a variant tag.

    Child runs (architectures, U-Nets) carry the same tags and are left out; so are runs that
    failed or are still running. Sorted by variant (None first), then seed.
    """
    check_study_name(study)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return {}
    query = (
        f"tags.`{STUDY_TAG}` = '{study}' and tags.`{ROLE_TAG}` = 'seed' "
        "and attributes.status = 'FINISHED'"
    )
    runs = client.search_runs(
        experiments, query, max_results=10000, order_by=["attributes.start_time DESC"]
    )
    newest: dict[tuple[str | None, int], Any] = {}
    for run in runs:
        if PARENT_TAG in run.data.tags:
            continue
        key = (run.data.tags.get(VARIANT_TAG), int(run.data.tags[SEED_TAG]))
        newest.setdefault(key, run)
    return dict(sorted(newest.items(), key=lambda item: (item[0][0] or "", item[0][1])))
