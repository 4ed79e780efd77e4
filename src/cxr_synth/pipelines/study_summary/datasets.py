"""Study inputs that only some studies have: ``MlflowStudyDataset`` (cxr_synth.datasets) for
artifacts a seed run may lack, and for the per-file artifacts of a folder.

A segmentation-only study has no comparison table and no training history; an evaluation-only
study no history; a GAN study no per-image segmentation Dice. The summary reads every kind
through these and writes an empty output, with a warning, for what its study does not have.
"""

from __future__ import annotations

import tempfile
from typing import Any

import pandas as pd
from kedro.io import DatasetError

from cxr_synth.datasets.mlflow_study import PLACEHOLDER, MlflowStudyDataset, _has_artifact


def _ids(**columns: str) -> pd.DataFrame:
    """An empty frame of the identifying columns (name -> dtype)."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})


class OptionalMlflowStudyDataset(MlflowStudyDataset):
    """``MlflowStudyDataset`` where a seed run without the artifact(s) adds no rows: no run
    with them loads an empty frame (``[variant,] seed, run_id``), not an error.

    Same arguments; ``kedro study run`` of a study that trained no GAN (segmentation only) or
    evaluated a saved one (no ``history.csv``) so still ends with a summary::

        study_mlflow_histories:
          type: cxr_synth.pipelines.study_summary.datasets.OptionalMlflowStudyDataset
          study: ${runtime_params:study.name, ''}
          artifact: "{architecture}/history.csv"
    """

    def _has_any(self, client: Any, run_id: str) -> bool:
        keyed = PLACEHOLDER.match(self._artifacts[-1])
        plain = self._artifacts[:-1] if keyed else self._artifacts
        if any(_has_artifact(client, run_id, path) for path in plain):
            return True
        return keyed is not None and any(
            folder.is_dir and _has_artifact(client, run_id, f"{folder.path}/{keyed.group(2)}")
            for folder in client.list_artifacts(run_id)
        )

    def _load_artifacts(self, client: Any, seed: int, run: Any) -> pd.DataFrame:
        if self._has_any(client, run.info.run_id):
            return super()._load_artifacts(client, seed, run)
        return _ids(seed="int64", run_id="str")


class MlflowStudyFilesDataset(MlflowStudyDataset):
    """Every ``<folder>/<name><suffix>`` CSV artifact of every finished seed run of a study,
    concatenated: ``[variant,] study_seed, run_id, folder, name`` in front of the file's own
    columns (``study_seed`` is the study's seed: the files may have a ``seed`` of their own, as
    the segmentation's per-image ``<method>_runs.csv`` have the U-Net's). Runs without such
    files add no rows; none loads an empty frame of those columns. Read-only::

        study_mlflow_segmentation_runs:
          type: cxr_synth.pipelines.study_summary.datasets.MlflowStudyFilesDataset
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
        super().__init__(study=study, tracking_uri=tracking_uri, metadata=metadata)
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
            return _ids(study_seed="int64", run_id="str", folder="str", name="str")
        return pd.concat(frames, ignore_index=True)
