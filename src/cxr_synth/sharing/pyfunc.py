"""A trained generator as an MLflow pyfunc model, loadable where only this package is installed.

``mlflow.pyfunc.load_model(uri).predict({"n": 16, "seed": 0, "truncation_psi": 1.0})`` returns
uint8 images (N, H, W); each input row is one request (``seed`` defaults to 0,
``truncation_psi`` to 1), their images concatenated in row order (at most ``MAX_IMAGES`` of
``cxr_synth.sharing.params`` in all). Params: ``batch_size`` (64)
and ``device`` (``auto``). The model folder holds ``generator.pt`` and ``generator_spec.json``
as artifacts (``artifacts/``; no pickled weights) and a two-line model-from-code file naming
:class:`GeneratorPyfunc`, which MLflow runs on ``load_model``. ``read_mlflow_generator`` reads the
artifacts as data instead (what ``cxr_synth.generate`` does): no code in the folder runs.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository
from mlflow.store.artifact.utils.models import get_model_name_and_version
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec
from packaging.version import Version

from cxr_synth.runtime.errors import UserError
from cxr_synth.sharing.generator import SPEC, WEIGHTS, Generator, load_folder
from cxr_synth.sharing.params import check_count

MODEL_CODE = """\
from mlflow.models import set_model
from cxr_synth.sharing.pyfunc import GeneratorPyfunc
set_model(GeneratorPyfunc())
"""


def model_name(architecture: str) -> str:
    """The logged model's name in its run: ``runs:/<run_id>/<architecture>_generator``."""
    return f"{architecture}_generator"


@dataclass(frozen=True)
class ModelRelease:
    """What ``MlflowGeneratorModelDataset`` logs: a generator, and the Model Registry name to
    register it under (None: logged, not registered)."""

    generator: Generator
    registered_model_name: str | None = None


class GeneratorPyfunc(mlflow.pyfunc.PythonModel):
    """The pyfunc face of a :class:`~cxr_synth.sharing.generator.Generator` (see the module doc)."""

    generator: Generator

    def load_context(self, context: Any) -> None:
        folder = Path(context.artifacts["weights"]).parent
        self.generator = load_folder(folder)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        params = params or {}
        batch = {
            "batch_size": int(params.get("batch_size", 64)),
            "device": params.get("device", "auto"),
        }
        rows = pd.DataFrame(model_input).to_dict("records")
        check_count(sum(check_count(int(row["n"])) for row in rows))  # all held at once
        images = []
        for row in rows:
            seed, psi = row.get("seed"), row.get("truncation_psi")
            images.append(
                self.generator.sample(
                    int(row["n"]),
                    0 if pd.isna(seed) else int(seed),
                    truncation_psi=1.0 if pd.isna(psi) else float(psi),
                    **batch,
                )
            )
        return np.concatenate(images)


def signature(generator: Generator) -> ModelSignature:
    """Input columns ``n`` (required), ``seed``, ``truncation_psi``; output uint8 images."""
    return ModelSignature(
        inputs=Schema(
            [
                ColSpec("long", "n"),
                ColSpec("long", "seed", required=False),
                ColSpec("double", "truncation_psi", required=False),
            ]
        ),
        outputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, *generator.image_shape))]),
        params=ParamSchema(
            [ParamSpec("batch_size", "long", 64), ParamSpec("device", "string", "auto")]
        ),
    )


def log_generator_model(
    generator: Generator, name: str, *, registered_model_name: str | None = None
) -> mlflow.models.model.ModelInfo:
    """Log ``generator`` as pyfunc model ``name`` in the active MLflow run (one is started if
    none is active), optionally registering it (the new version gets the ``candidate`` alias,
    ``cxr_synth.sharing.registry``); ``metadata`` holds the spec and the generator's own
    metadata."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = generator.save(tmp)
        code = folder / "generator_model.py"
        code.write_text(MODEL_CODE, encoding="utf-8")
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=code,
            artifacts={"weights": str(folder / WEIGHTS), "spec": str(folder / SPEC)},
            signature=signature(generator),
            input_example=pd.DataFrame({"n": [1], "seed": [0], "truncation_psi": [1.0]}),
            registered_model_name=registered_model_name,
            metadata={"cxr_synth": {"spec": dict(generator.spec), **generator.metadata}},
            pip_requirements=_requirements(),
        )
    _keep_local_paths_out(info, name)
    if registered_model_name and info.registered_model_version is not None:
        from cxr_synth.sharing.registry import set_candidate

        set_candidate(registered_model_name, info.registered_model_version)
    return info


def _keep_local_paths_out(info: mlflow.models.model.ModelInfo, name: str) -> None:
    """MLflow writes the model's artifact location into its MLmodel file: with a local store,
    the project's absolute path (docs/reliability.md keeps those out of MLflow). Rewritten to
    the model's name, which is what MLflow 2 recorded there."""
    import yaml

    location = mlflow.get_logged_model(info.model_id).artifact_location
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(mlflow.artifacts.download_artifacts(f"{location}/MLmodel", dst_path=tmp))
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        content["artifact_path"] = name
        path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        mlflow.MlflowClient().log_model_artifact(info.model_id, str(path))


def read_mlflow_generator(uri: str) -> Generator:
    """The :class:`Generator` in the cxr_synth MLflow model at ``uri`` (a URI or a downloaded
    folder), read from its files (``read_model_folder``); run and model ids from the tracking
    server, never from the model's own MLmodel file."""
    if Path(uri).is_dir():
        return read_model_folder(Path(uri), {"source": uri, "run_id": None, "model_id": None})
    try:
        pinned, run_id, model_id = _tracked(mlflow.MlflowClient(), uri)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(mlflow.artifacts.download_artifacts(pinned, dst_path=tmp))
            origin = {"source": uri, "run_id": run_id, "model_id": model_id}
            return read_model_folder(folder, origin, shown=uri)
    except MlflowException as error:
        raise UserError(f"{uri}: {error.message.splitlines()[0]}") from None


def _tracked(client: mlflow.MlflowClient, uri: str) -> tuple[str, str | None, str | None]:
    """``uri`` pinned (an alias or stage resolved to its version), and the run and model ids the
    tracking server holds for it (None for plain artifact URIs)."""
    if uri.startswith("runs:/"):
        run_id, _ = RunsArtifactRepository.parse_runs_uri(uri)
        return uri, client.get_run(run_id).info.run_id, None
    if not uri.startswith("models:/"):
        return uri, None, None
    found = get_model_name_and_version(client, uri)
    if len(found) == 1:  # models:/<model_id>
        model = client.get_logged_model(found[0])
        return uri, model.source_run_id, model.model_id
    version = client.get_model_version(*found)
    return f"models:/{found[0]}/{found[1]}", version.run_id, version.model_id


def read_model_folder(folder: Path, origin: dict[str, Any], shown: Any = None) -> Generator:
    """The generator in a cxr_synth MLflow model folder: ``artifacts/`` (``load_folder``) and the
    ``cxr_synth`` metadata of ``MLmodel`` (YAML, read as data); ``shown``: its name in errors."""
    import yaml

    shown = shown or folder
    artifacts = folder / "artifacts"
    if not ((artifacts / WEIGHTS).is_file() and (artifacts / SPEC).is_file()):
        raise UserError(f"{shown} is an MLflow model, but not a cxr_synth generator")
    generator = load_folder(artifacts, f"{shown}/artifacts")
    meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    stored = ((meta or {}).get("metadata") or {}).get("cxr_synth") or {}
    metadata = {key: value for key, value in stored.items() if key != "spec"}
    return Generator(generator.state_dict, generator.spec, metadata, origin)


def active_run_id() -> str | None:
    """The active MLflow run's id (kedro-mlflow's run in a pipeline), None without one."""
    run = mlflow.active_run()
    return run.info.run_id if run else None


def _requirements() -> list[str]:
    """Pins of what loading needs (explicit: MLflow's inference would load the model again)."""
    pins = []
    for package in ("cxr-synth", "mlflow", "torch", "numpy", "pandas"):
        try:
            pins.append(f"{package}=={Version(version(package)).public}")
        except PackageNotFoundError:
            pins.append(package)
    return pins
