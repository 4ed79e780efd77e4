"""A wrapper that loads ``None`` when the wrapped dataset's file is absent."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset
from kedro.io.core import parse_dataset_definition


class OptionalDataset(AbstractDataset[Any, Any]):
    """Loads the wrapped dataset, or ``None`` when it does not exist; saves through it.

    For inputs a user may legitimately not have, e.g. NIH's official ``test_list.txt``::

        nih_test_list:
          type: cxr_synth.datasets.OptionalDataset
          dataset: {type: text.TextDataset, filepath: data/01_raw/nih/test_list.txt}
    """

    def __init__(self, dataset: dict[str, Any], metadata: dict[str, Any] | None = None):
        dataset_class, dataset_args = parse_dataset_definition(dict(dataset))
        self._dataset = dataset_class(**dataset_args)
        self.metadata = metadata

    def load(self) -> Any:
        return self._dataset.load() if self._dataset.exists() else None

    def save(self, data: Any) -> None:
        self._dataset.save(data)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe()}
