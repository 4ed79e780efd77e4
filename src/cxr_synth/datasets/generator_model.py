"""kedro-mlflow's model dataset for a trained generator (``cxr_synth.sharing.pyfunc``)."""

from __future__ import annotations

from typing import Any

from kedro_mlflow.io.models import MlflowModelTrackingDataset

from cxr_synth.sharing.generator import Generator
from cxr_synth.sharing.pyfunc import ModelRelease, log_generator_model, model_name
from cxr_synth.sharing.sources import load_generator


class MlflowGeneratorModelDataset(MlflowModelTrackingDataset):
    """Saves a :class:`~cxr_synth.sharing.pyfunc.ModelRelease` as the pyfunc model
    ``<architecture>_generator`` of the active MLflow run (signature and artifacts come from the
    generator, so they cannot be fixed in the catalog); loads the last one saved, or
    ``load_args.model_uri``, as a :class:`~cxr_synth.sharing.generator.Generator`. Nothing is
    logged when kedro-mlflow turns tracking off. Example::

        "{arch}_mlflow_model":
          type: cxr_synth.datasets.generator_model.MlflowGeneratorModelDataset
    """

    def __init__(
        self, load_args: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        super().__init__(
            flavor="mlflow.pyfunc",
            pyfunc_workflow="python_model",
            load_args=load_args,
            save_args={"name": model_name("<architecture>")},  # the real name is set on save
            metadata=metadata,
        )

    def _load(self) -> Generator:
        return load_generator(self.model_uri)

    def _save(self, release: ModelRelease) -> None:
        if not self._logging_activated:
            return
        name = model_name(release.generator.architecture)
        self._save_args["name"] = name
        self.model_info = log_generator_model(
            release.generator, name, registered_model_name=release.registered_model_name
        )
        self._last_saved_model_uri = self.model_info.model_uri
