"""A table saved through another dataset and shown as a table on its MLflow run page."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset
from kedro.io.core import parse_dataset_definition


class MlflowTableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """Saves through the wrapped dataset, then ``mlflow.log_table`` (when a run is active) as
    ``artifact_file``, a JSON table that MLflow's run page renders (artifacts view) and its
    experiment page can compare across runs; loads from the wrapped dataset::

        comparison_table:
          type: cxr_synth.datasets.MlflowTableDataset
          artifact_file: comparison_table.json
          dataset: {type: pandas.CSVDataset, filepath: data/08_reporting/comparison_table.csv}
    """

    def __init__(
        self,
        dataset: dict[str, Any],
        artifact_file: str,
        metadata: dict[str, Any] | None = None,
    ):
        dataset_class, dataset_args = parse_dataset_definition(dict(dataset))
        self._dataset = dataset_class(**dataset_args)
        self._artifact_file = artifact_file
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        return self._dataset.load()

    def save(self, data: pd.DataFrame) -> None:
        self._dataset.save(data)
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.log_table(data=data, artifact_file=self._artifact_file)

    @property
    def _filepath(self):  # where the file lies, as on Kedro's file datasets (tools read it)
        return self._dataset._filepath

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe(), "artifact_file": self._artifact_file}
