"""A read-only Kedro dataset: the finished seed runs of a multi-seed study, from MLflow.

``kedro study run studies/<file>.yml`` (``cxr_synth.study``) runs one ``kedro run`` per seed and
tags each one's MLflow parent run ``cxr_synth.study=<name>``, ``cxr_synth.study_role=seed`` and
``cxr_synth.study_seed=<k>``. This dataset finds those runs (the newest finished one per seed) and
loads either the runs themselves or one CSV artifact of each run, concatenated, so the
``study_summary`` nodes get plain DataFrames and do no I/O.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from cxr_synth.errors import UserError

STUDY_TAG = "cxr_synth.study"
ROLE_TAG = "cxr_synth.study_role"
SEED_TAG = "cxr_synth.study_seed"
CONFIG_TAG = "cxr_synth.study_config"
PARENT_TAG = "mlflow.parentRunId"

STUDY_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
PLACEHOLDER = re.compile(r"^\{(\w+)\}/(.+)$")
RUN_COLUMNS = ["study", "seed", "run_id", "run_name", "start_time", "duration_s", "config"]


def check_study_name(name: str) -> str:
    """``name`` if it can be a study name (letters, digits, ``_ . -``), else a user error."""
    if not name or not STUDY_NAME.match(name):
        raise UserError(
            f"Study name {name!r} is not valid: use letters, digits, '_', '.' or '-' "
            "(it becomes an MLflow tag and a folder name)."
        )
    return name


def finished_seed_runs(client: Any, study: str) -> dict[int, Any]:
    """The newest FINISHED MLflow parent run of each seed of ``study``: ``{seed: Run}``.

    Child runs (architectures, U-Nets) carry the same tags and are left out; so are runs that
    failed or are still running.
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
    newest: dict[int, Any] = {}
    for run in runs:
        if PARENT_TAG in run.data.tags:
            continue
        newest.setdefault(int(run.data.tags[SEED_TAG]), run)
    return dict(sorted(newest.items()))


class MlflowStudyDataset(AbstractDataset[None, pd.DataFrame]):
    """The newest finished seed runs of study ``study`` in the MLflow tracking store.

    - ``artifact: null`` loads one row per seed: ``study, seed, run_id, run_name, start_time,
      duration_s, config`` (the study-config hash the runner tagged).
    - ``artifact: comparison_table.csv`` loads that CSV artifact of every seed run,
      concatenated, with ``seed`` and ``run_id`` columns in front. A list tries each path in
      turn per run (e.g. the table with Dice first, then the one without).
    - ``artifact: "{architecture}/history.csv"`` loads ``<dir>/history.csv`` from every
      top-level artifact folder that has one, the folder name in an ``architecture`` column.

    ``tracking_uri: null`` uses MLflow's current one (kedro-mlflow sets it from mlflow.yml).
    Read-only: saving raises. Example (conf/base/catalog_study.yml)::

        study_mlflow_histories:
          type: cxr_synth.datasets.MlflowStudyDataset
          study: ${runtime_params:study.name, ''}
          artifact: "{architecture}/history.csv"
    """

    def __init__(
        self,
        study: str | None = None,
        artifact: str | list[str] | None = None,
        tracking_uri: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._study = study or None
        self._artifacts = [artifact] if isinstance(artifact, str) else list(artifact or [])
        self._tracking_uri = tracking_uri
        self.metadata = metadata
        keyed = [a for a in self._artifacts if a.startswith("{")]
        if keyed and (len(self._artifacts) > 1 or not PLACEHOLDER.match(keyed[0])):
            raise DatasetError(
                f"artifact {artifact!r}: a '{{column}}/path' pattern must be the only artifact "
                "and its placeholder the first folder, e.g. '{architecture}/history.csv'."
            )

    # ------------------------------------------------------------------------------ Kedro API
    def load(self) -> pd.DataFrame:
        client = self._client()
        runs = self._runs(client)
        if not self._artifacts:
            return self._run_table(runs)
        frames = [self._load_artifacts(client, seed, run) for seed, run in runs.items()]
        return pd.concat(frames, ignore_index=True)

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError("MlflowStudyDataset is read-only: the study's seed runs write MLflow.")

    def _exists(self) -> bool:
        return self._study is not None and bool(finished_seed_runs(self._client(), self._study))

    def _describe(self) -> dict[str, Any]:
        return {"study": self._study, "artifact": self._artifacts, "tracking_uri": self._uri()}

    # ------------------------------------------------------------------------------ helpers
    def _uri(self) -> str:
        import mlflow

        return self._tracking_uri or mlflow.get_tracking_uri()

    def _client(self):
        from mlflow import MlflowClient

        return MlflowClient(self._uri())

    def _runs(self, client: Any) -> dict[int, Any]:
        if self._study is None:
            raise UserError(
                "No study named: the study_summary pipeline reads the runs of the study in "
                "`study.name`. Run `kedro study run studies/<file>.yml`, or add "
                "`--params study.name=<name>` to `kedro run --pipelines study_summary`."
            )
        runs = finished_seed_runs(client, self._study)
        if not runs:
            raise UserError(
                f"No finished seed run of study '{self._study}' in the MLflow store "
                f"{self._uri()}: run `kedro study run studies/<file>.yml` for it first "
                "(in the same project and environment)."
            )
        return runs

    def _run_table(self, runs: dict[int, Any]) -> pd.DataFrame:
        rows = []
        for seed, run in runs.items():
            info = run.info
            rows.append(
                {
                    "study": self._study,
                    "seed": seed,
                    "run_id": info.run_id,
                    "run_name": info.run_name,
                    "start_time": pd.Timestamp(info.start_time, unit="ms", tz="UTC"),
                    "duration_s": ((info.end_time or info.start_time) - info.start_time) / 1000,
                    "config": run.data.tags.get(CONFIG_TAG, ""),
                }
            )
        return pd.DataFrame(rows, columns=RUN_COLUMNS)

    def _load_artifacts(self, client: Any, seed: int, run: Any) -> pd.DataFrame:
        run_id = run.info.run_id
        keyed = PLACEHOLDER.match(self._artifacts[0])
        with tempfile.TemporaryDirectory() as tmp:
            if keyed:
                column, rest = keyed.groups()
                frames = []
                for folder in client.list_artifacts(run_id):
                    if not folder.is_dir:
                        continue
                    path = f"{folder.path}/{rest}"
                    if _has_artifact(client, run_id, path):
                        frame = _read_csv(client, run_id, path, tmp)
                        frame.insert(0, column, folder.path)
                        frames.append(frame)
                if not frames:
                    raise DatasetError(f"run {run_id} (seed {seed}) has no '{{dir}}/{rest}'")
                frame = pd.concat(frames, ignore_index=True)
            else:
                path = next((p for p in self._artifacts if _has_artifact(client, run_id, p)), None)
                if path is None:
                    raise DatasetError(
                        f"run {run_id} (seed {seed}) of study '{self._study}' has none of the "
                        f"artifacts {self._artifacts}; did that seed run the evaluation?"
                    )
                frame = _read_csv(client, run_id, path, tmp)
        frame.insert(0, "run_id", run_id)
        frame.insert(0, "seed", seed)
        return frame


def _has_artifact(client: Any, run_id: str, path: str) -> bool:
    folder = str(Path(path).parent) if "/" in path else None
    return any(a.path == path and not a.is_dir for a in client.list_artifacts(run_id, folder))


def _read_csv(client: Any, run_id: str, path: str, tmp: str) -> pd.DataFrame:
    local = client.download_artifacts(run_id, path, dst_path=tmp)
    return pd.read_csv(local)
