"""Several PyTorch state dicts in one ``.pt`` file, e.g. one trained U-Net per seed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset, DatasetError

from cxr_synth.runtime.atomic import atomic_write

if TYPE_CHECKING:  # torch is imported on first load/save: `import cxr_synth.datasets` stays light
    import torch

StateDicts = dict["int | str", dict[str, "torch.Tensor"]]


class StateDictsDataset(AbstractDataset[Mapping[Any, Mapping[str, "torch.Tensor"]], StateDicts]):
    """``{key: state_dict}`` saved atomically with ``torch.save``, loaded with ``weights_only=True``.

    Keys are ints or strings (seeds, names); each value maps parameter names to tensors. Loading
    with ``weights_only=True`` admits only tensors and plain containers, so a file carrying pickled
    code is refused. Tensors are saved from, and loaded to, the CPU. Example catalog entry::

        "{method}_unets":
          type: cxr_synth.datasets.StateDictsDataset
          filepath: data/06_models/segmentation/{method}/unets.pt

    (kedro-datasets' ``PyTorchDataset`` saves a whole ``nn.Module``, not state dicts.)
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> StateDicts:
        import torch

        path = Path(self._filepath)
        if not path.exists():
            raise DatasetError(
                f"{path} does not exist: run the pipeline that trains these models first "
                "(for U-Nets: `kedro run --pipelines segmentation`)."
            )
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # unpickling refused, truncated or foreign file
            raise DatasetError(
                f"{path} is not a file of state dicts loadable with weights_only=True ({error}); "
                "delete it and rerun the pipeline that writes it."
            ) from error
        return _checked(data, str(path))

    def save(self, data: Mapping[Any, Mapping[str, torch.Tensor]]) -> None:
        import torch

        payload = {
            key: {name: tensor.detach().cpu() for name, tensor in state.items()}
            for key, state in _checked(data, str(self._filepath)).items()
        }
        with atomic_write(Path(self._filepath)) as handle:
            torch.save(payload, handle)

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


def _checked(data: Any, where: str) -> StateDicts:
    """``data`` if it is a non-empty {int|str: {str: Tensor}}; else a DatasetError saying what is wrong."""
    import torch

    if not isinstance(data, Mapping) or not data:
        raise DatasetError(
            f"{where}: expected a non-empty dict {{key: state_dict}}, got {type(data).__name__}"
        )
    for key, state in data.items():
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise DatasetError(f"{where}: keys must be ints or strings, got {key!r}")
        if not isinstance(state, Mapping) or not all(
            isinstance(name, str) and torch.is_tensor(t) for name, t in state.items()
        ):
            raise DatasetError(
                f"{where}: entry {key!r} is not a state dict (parameter name -> tensor); save "
                "model.state_dict(), not the model"
            )
    return dict(data)
