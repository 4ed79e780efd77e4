"""Read-only Kedro datasets: the finished seed runs of a multi-seed study, from MLflow.

``kedro study run studies/<file>.yml`` (``cxr_synth.study.runner``) tags the MLflow parent run
of every seed (and variant) it runs (``cxr_synth.study.mlflow_runs``). ``MlflowStudyDataset``
finds those runs (the newest finished one per variant and seed) and loads either the runs
themselves or one artifact of each run, concatenated; ``MlflowStudyFilesDataset`` every
``<folder>/*<suffix>`` CSV artifact of each run. So the ``study_summary`` nodes get plain
DataFrames and do no I/O.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from cxr_synth.runtime.errors import UserError
from cxr_synth.study.mlflow_runs import CONFIG_TAG, finished_study_runs

PLACEHOLDER = re.compile(r"^\{(\w+)\}/(.+)$")
RUN_COLUMNS = ["study", "seed", "run_id", "run_name", "start_time", "duration_s", "config"]


class MlflowStudyDataset(AbstractDataset[None, pd.DataFrame]):
    """The newest finished seed runs of study ``study`` in the MLflow tracking store.

    - ``artifact: null`` loads one row per seed: ``study, seed, run_id, run_name, start_time,
      duration_s, config`` (the study-config hash the runner tagged).
    - ``artifact: comparison_table.csv`` loads that CSV artifact of every seed run,
      concatenated, with ``seed`` and ``run_id`` columns in front. A list tries each path in
      turn per run (e.g. the table with Dice first, then the one without).
    - ``artifact: "{architecture}/history.csv"`` loads ``<dir>/history.csv`` from every
      top-level artifact folder that has one, the folder name in an ``architecture`` column.
      As the last entry of a list it is the fallback for runs without the files before it.
    - A ``.json`` artifact is one row: its top-level scalar values and those of the mappings
      named in ``json_sections``, e.g. ``{architecture}/evaluation.json`` with
      ``json_sections: [metrics, training]`` (the columns of the comparison table) for runs
      that evaluated single architectures (``evaluate_<arch>``) and so have no comparison table.

    A study with variants (some run has a ``cxr_synth.study_variant`` tag) has one row/run per
    variant and seed, and a ``variant`` column in front of ``seed`` (``""`` for runs without
    the tag); a study without variants has no such column.

    ``optional: true``: a seed run without the artifact(s) adds no rows instead of failing the
    load; if no run has them, an empty frame of the identifying columns (``[variant,] seed,
    run_id``). For the inputs only some studies have: a segmentation-only study has no comparison
    table or history, an evaluation-only one (a saved generator) no history.

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
        json_sections: list[str] | None = None,
        optional: bool = False,
        metadata: dict[str, Any] | None = None,
    ):
        self._study = study or None
        self._artifacts = [artifact] if isinstance(artifact, str) else list(artifact or [])
        self._tracking_uri = tracking_uri
        self._json_sections = list(json_sections or [])
        self._optional = optional
        self.metadata = metadata
        keyed = [a for a in self._artifacts if a.startswith("{")]
        if keyed and (
            len(keyed) > 1 or keyed[0] != self._artifacts[-1] or not PLACEHOLDER.match(keyed[0])
        ):
            raise DatasetError(
                f"artifact {artifact!r}: a '{{column}}/path' pattern must be the last artifact "
                "(the only one or the fallback) and its placeholder the first folder, e.g. "
                "'{architecture}/history.csv'."
            )

    # ------------------------------------------------------------------------------ Kedro API
    def load(self) -> pd.DataFrame:
        client = self._client()
        runs = self._runs(client)
        with_variants = any(variant is not None for variant, _ in runs)
        if not self._artifacts:
            return self._run_table(runs, with_variants)
        frames = []
        for (variant, seed), run in runs.items():
            frame = self._load_artifacts(client, seed, run)
            if with_variants:
                frame.insert(0, "variant", variant or "")
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError("MlflowStudyDataset is read-only: the study's seed runs write MLflow.")

    def _exists(self) -> bool:
        return self._study is not None and bool(finished_study_runs(self._client(), self._study))

    def _describe(self) -> dict[str, Any]:
        return {"study": self._study, "artifact": self._artifacts, "tracking_uri": self._uri(),
                "json_sections": self._json_sections, "optional": self._optional}  # fmt: skip

    # ------------------------------------------------------------------------------ helpers
    def _uri(self) -> str:
        import mlflow

        return self._tracking_uri or mlflow.get_tracking_uri()

    def _client(self):
        from mlflow import MlflowClient

        return MlflowClient(self._uri())

    def _runs(self, client: Any) -> dict[tuple[str | None, int], Any]:
        if self._study is None:
            raise UserError(
                "No study named: the study_summary pipeline reads the runs of the study in "
                "`study.name`. Run `kedro study run studies/<file>.yml`, or add "
                "`--params study.name=<name>` to `kedro run --pipelines study_summary`."
            )
        runs = finished_study_runs(client, self._study)
        if not runs:
            raise UserError(
                f"No finished seed run of study '{self._study}' in the MLflow store "
                f"{self._uri()}: run `kedro study run studies/<file>.yml` for it first "
                "(in the same project and environment)."
            )
        return runs

    def _run_table(
        self, runs: dict[tuple[str | None, int], Any], with_variants: bool
    ) -> pd.DataFrame:
        rows = []
        for (variant, seed), run in runs.items():
            info = run.info
            rows.append(
                {
                    "study": self._study,
                    "variant": variant or "",
                    "seed": seed,
                    "run_id": info.run_id,
                    "run_name": info.run_name,
                    "start_time": pd.Timestamp(info.start_time, unit="ms", tz="UTC"),
                    "duration_s": ((info.end_time or info.start_time) - info.start_time) / 1000,
                    "config": run.data.tags.get(CONFIG_TAG, ""),
                }
            )
        columns = [RUN_COLUMNS[0], "variant", *RUN_COLUMNS[1:]] if with_variants else RUN_COLUMNS
        return pd.DataFrame(rows, columns=columns)

    def _load_artifacts(self, client: Any, seed: int, run: Any) -> pd.DataFrame:
        run_id = run.info.run_id
        keyed = PLACEHOLDER.match(self._artifacts[-1])
        plain = self._artifacts[:-1] if keyed else self._artifacts
        with tempfile.TemporaryDirectory() as tmp:
            path = next((p for p in plain if _has_artifact(client, run_id, p)), None)
            if path is not None:
                frame = self._read(client, run_id, path, tmp)
            elif keyed:
                frame = self._read_folders(client, run_id, *keyed.groups(), tmp)
            else:
                frame = None
        if frame is None and self._optional:
            return _empty(seed="int64", run_id="str")
        if frame is None:
            what = f"none of the artifacts {self._artifacts}" if plain else (
                f"no '{{dir}}/{keyed.group(2)}'")  # fmt: skip
            raise DatasetError(
                f"run {run_id} (seed {seed}) of study '{self._study}' has {what}; did that seed "
                "run the evaluation?"
            )
        frame.insert(0, "run_id", run_id)
        frame.insert(0, "seed", seed)
        return frame

    def _read_folders(
        self, client: Any, run_id: str, column: str, rest: str, tmp: str
    ) -> pd.DataFrame | None:
        """``<dir>/<rest>`` of every top-level folder that has it, ``<dir>`` in ``column``."""
        frames = []
        for folder in client.list_artifacts(run_id):
            path = f"{folder.path}/{rest}"
            if folder.is_dir and _has_artifact(client, run_id, path):
                frame = self._read(client, run_id, path, tmp).drop(columns=[column], errors="ignore")
                frame.insert(0, column, folder.path)
                frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else None

    def _read(self, client: Any, run_id: str, path: str, tmp: str) -> pd.DataFrame:
        local = client.download_artifacts(run_id, path, dst_path=tmp)
        if not path.endswith(".json"):
            return pd.read_csv(local)
        with open(local, encoding="utf-8") as file:
            record = json.load(file)
        if not isinstance(record, dict):
            raise DatasetError(f"run {run_id}: {path} is not a JSON object")
        row = {k: v for k, v in record.items() if _scalar(v)}
        for section in self._json_sections:
            values = record.get(section)
            if isinstance(values, dict):
                row.update({k: v for k, v in values.items() if _scalar(v)})
        return pd.DataFrame([row])


class MlflowStudyFilesDataset(MlflowStudyDataset):
    """Every ``<folder>/<name><suffix>`` CSV artifact of every finished seed run of a study,
    concatenated: ``[variant,] study_seed, run_id, folder, name`` in front of the file's own
    columns (``study_seed`` is the study's seed: the files may have a ``seed`` of their own, as
    the segmentation's per-image ``<method>_runs.csv`` have the U-Net's). Runs without such
    files add no rows; none loads an empty frame of those columns. Read-only::

        study_mlflow_segmentation_runs:
          type: cxr_synth.datasets.MlflowStudyFilesDataset
          study: ${runtime_params:study.name, ''}
          folders: [segmentation, segmentation_external]
          suffix: _runs.csv
    """

    def __init__(
        self,
        folders: list[str],
        suffix: str,
        study: str | None = None,
        tracking_uri: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(study=study, tracking_uri=tracking_uri, optional=True, metadata=metadata)
        if not folders or not suffix:
            raise DatasetError("MlflowStudyFilesDataset needs folders and a file-name suffix.")
        self._folders = list(folders)
        self._suffix = suffix
        self._artifacts = [f"{folder}/*{suffix}" for folder in self._folders]  # described

    def _load_artifacts(self, client: Any, seed: int, run: Any) -> pd.DataFrame:
        run_id = run.info.run_id
        frames = []
        with tempfile.TemporaryDirectory() as tmp:
            for folder in self._folders:
                for artifact in client.list_artifacts(run_id, folder):
                    name = artifact.path.rsplit("/", 1)[-1]
                    if artifact.is_dir or not name.endswith(self._suffix):
                        continue
                    frame = self._read(client, run_id, artifact.path, tmp)
                    head = {"study_seed": seed, "run_id": run_id, "folder": folder,
                            "name": name.removesuffix(self._suffix)}  # fmt: skip
                    for position, (column, value) in enumerate(head.items()):
                        frame.insert(position, column, value)
                    frames.append(frame)
        if not frames:
            return _empty(study_seed="int64", run_id="str", folder="str", name="str")
        return pd.concat(frames, ignore_index=True)


def _empty(**columns: str) -> pd.DataFrame:
    """An empty frame of the identifying columns (name -> dtype)."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _has_artifact(client: Any, run_id: str, path: str) -> bool:
    folder = str(Path(path).parent) if "/" in path else None
    return any(a.path == path and not a.is_dir for a in client.list_artifacts(run_id, folder))
