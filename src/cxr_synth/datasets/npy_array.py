"""A compact ``.npy`` array dataset, memory-mapped on load."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from cxr_synth.runtime.atomic import atomic_write


class NpyArrayDataset(AbstractDataset[np.ndarray, np.ndarray]):
    """Saves a numpy array as ``.npy`` (atomically) and loads it memory-mapped, read-only.

    Memory-mapping keeps the loading node's memory flat however many images the array holds:
    only the pages a DataLoader touches are read. Example catalog entry::

        nih_images_array:
          type: cxr_synth.datasets.NpyArrayDataset
          filepath: data/05_model_input/nih_images.npy
    """

    def __init__(self, filepath: str, mmap: bool = True, metadata: dict[str, Any] | None = None):
        self._filepath = PurePosixPath(filepath)
        self._mmap = mmap
        self.metadata = metadata

    def load(self) -> np.ndarray:
        path = Path(self._filepath)
        if not path.exists():
            raise DatasetError(
                f"{path} does not exist: run the pipeline that creates it first "
                f"(e.g. `kedro run --pipelines preprocessing`)."
            )
        return np.load(path, mmap_mode="r" if self._mmap else None, allow_pickle=False)

    def save(self, data: np.ndarray) -> None:
        with atomic_write(Path(self._filepath)) as handle:
            np.save(handle, np.ascontiguousarray(data), allow_pickle=False)

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "mmap": self._mmap}


class NpzDataset(AbstractDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    """A dict of numpy arrays as one ``.npz`` file (no pickle), e.g. cached feature statistics."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        with np.load(Path(self._filepath), allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        with atomic_write(Path(self._filepath)) as handle:
            np.savez(handle, **data)

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
