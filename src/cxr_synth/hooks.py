"""Project hooks: safe runs (tracking server, project lock, temp files, provenance), demo data
when the raw folder is empty, rank-0-only outputs under torchrun."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from cxr_synth.pipelines.demo_data.params import DemoDataParams
from cxr_synth.runtime.atomic import remove_stale_temp_files
from cxr_synth.runtime.cli_args import check_config_and_params
from cxr_synth.runtime.inputs import check_inputs
from cxr_synth.runtime.privacy import relative_to_project
from cxr_synth.runtime.project_lock import ProjectLock
from cxr_synth.runtime.rank import distributed_rank
from cxr_synth.runtime.tracking_server import (
    abandon_active_runs,
    anchor_sqlite_uri,
    check_tracking_server,
    ensure_experiment,
    lost_server,
)
from cxr_synth.runtime.writable import check_writable, local_path

logger = logging.getLogger(__name__)

RAW_DATASETS = ("nih_metadata", "nih_images", "seg_raw")


class RunSafetyHook:
    """Checks that run before any node (and before kedro-mlflow talks to its server).

    - ``kedro run --config FILE --params …`` does not silently drop the file's params.
    - The MLflow tracking server answers within a few seconds (else one clear error); a
      relative ``sqlite:///mlflow.db`` is anchored at the project, not the working directory.
    - Every top-level parameter section is one a pipeline reads (a typo in a section name would
      otherwise be ignored; the sections' contents are validated by Kedro against their models).
    - Every folder the pipeline writes to is writable (a read-only ``data/`` stops it at once).
    - Every input that no node of the run makes is on disk (``runtime.inputs``; raw data aside:
      the demo makes it, or its dataset's own error names the path).
    - No other ``kedro run`` uses this data folder (``data/``, or ``--params data_root=DIR``): a
      lock held until the run ends.
    - Temp files that killed writes left under ``data/`` are removed (safe: we hold the lock).
    - A tracking server that stops answering during the run ends it with one line
      (``TrackingServerLost``), not kedro-mlflow's minutes of retries to close its runs there.
    Under torchrun, rank 0 does this for all ranks.
    """

    def __init__(self) -> None:
        self._data_dir: Path | None = None
        self._lock: ProjectLock | None = None
        self._tracking_uri: str | None = None
        self._project: Path | None = None

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        root = (context.config_loader.runtime_params or {}).get("data_root") or "data"
        self._project = Path(context.project_path)
        self._data_dir = self._project / root  # an absolute root stays as it is
        if distributed_rank() > 0:
            return
        check_config_and_params(sys.argv)
        try:
            mlflow_conf = context.config_loader["mlflow"]
        except Exception:  # no mlflow.yml: kedro-mlflow falls back to its defaults
            mlflow_conf = None
        server = (mlflow_conf or {}).get("server") or {}
        uri = server.get("mlflow_tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
        check_tracking_server(uri)
        anchored = anchor_sqlite_uri(uri, context.project_path)
        self._tracking_uri = anchored
        if mlflow_conf is not None and anchored != uri:  # what kedro-mlflow reads next
            context.config_loader["mlflow"] = {
                **mlflow_conf, "server": {**server, "mlflow_tracking_uri": anchored}
            }
        if mlflow_conf is not None:
            _create_experiment(mlflow_conf, anchored)
        from cxr_synth.pipelines.configuration import (
            check_sections,  # imports every pipeline's models
        )

        check_sections(context.config_loader["parameters"])

    @hook_impl(tryfirst=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        if distributed_rank() > 0 or self._data_dir is None:
            return
        self._lock = ProjectLock(self._data_dir)
        outputs = [(name, local_path(catalog.get(name))) for name in sorted(pipeline.all_outputs())]
        check_writable([("the run lock", self._lock.path), *((n, p) for n, p in outputs if p)])
        from kedro.framework.project import pipelines

        check_inputs(pipeline, catalog, pipelines, self._project)
        names = ",".join(run_params.get("pipeline_names") or ["__default__"])
        self._lock.acquire(f"kedro run --pipelines {names}")
        remove_stale_temp_files(self._data_dir)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl(tryfirst=True)  # before kedro-mlflow's, which would wait minutes on a lost server
    def on_pipeline_error(self, error: Exception) -> None:
        self._release()
        if distributed_rank() > 0:
            return
        lost = lost_server(error, self._tracking_uri)
        if lost is not None:
            abandon_active_runs()  # kedro-mlflow's own closing is skipped: it would retry for minutes
            raise lost from error

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


class ProvenanceHook:
    """Tags the run's MLflow run with the commit, package versions and machine
    (``cxr_synth.runtime.provenance``); child runs copy them (``training.tracking.child_run``). The
    torch tags (accelerator, threads) follow after the first node that imported torch, or the
    one that failed: a run that never imports torch does not pay for it."""

    def __init__(self) -> None:
        self._project: Path | None = None
        self._torch_tagged = False

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project = Path(context.project_path)

    @hook_impl(trylast=True)  # after kedro-mlflow has started the run and set its tags
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._torch_tagged = False
        if distributed_rank() > 0 or self._project is None:
            return
        import mlflow

        from cxr_synth.runtime.provenance import run_record

        if mlflow.active_run() is None:
            return
        # kedro-mlflow tags the run with run_params (project_path etc.): no absolute paths.
        scrubbed = {k: relative_to_project(str(v), self._project) for k, v in run_params.items()}
        mlflow.set_tags({k: v for k, v in scrubbed.items() if v != str(run_params[k])})
        mlflow.set_tags(run_record(self._project))
        self._tag_torch()

    @hook_impl
    def after_node_run(self) -> None:
        self._tag_torch()

    @hook_impl
    def on_node_error(self) -> None:
        self._tag_torch()

    def _tag_torch(self) -> None:
        if self._torch_tagged or distributed_rank() > 0 or self._project is None:
            return
        from cxr_synth.runtime.provenance import torch_record

        tags = torch_record()
        if not tags:
            return
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.set_tags(tags)
            self._torch_tagged = True


class MlflowWorkspaceHook:
    """How the run reads in the MLflow UI (``cxr_synth.runtime.mlflow_workspace``): the experiment
    opens on its training runs, the parent run gets a readable name (unless ``mlflow.yml`` sets
    ``tracking.run.name``) and a description with the command and the key parameters."""

    def __init__(self) -> None:
        self._context = None
        self._run = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._context = context

    @hook_impl(trylast=True)  # after kedro-mlflow has started the run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline) -> None:
        if distributed_rank() > 0 or self._context is None:
            return
        import mlflow

        from cxr_synth.runtime import mlflow_workspace as workspace
        from cxr_synth.study.mlflow_runs import ROLE_TAG, SEED_TAG, STUDY_TAG, VARIANT_TAG

        run, config = mlflow.active_run(), getattr(self._context, "mlflow", None)
        if run is None or config is None:  # config: kedro-mlflow's parsed mlflow.yml
            return
        namespaces = {node.namespace or "" for node in pipeline.nodes}
        tags, params = run.data.tags, self._context.params
        seed = tags.get(SEED_TAG)
        if seed is None and any(n.startswith("training.") for n in namespaces):
            seed = workspace.parameter(params, "training.loop.seed", None)
        workspace.describe_run(
            mlflow.MlflowClient(), run, env=run_params.get("env") or "local",
            pipelines=run_params.get("pipeline_names") or ["__default__"], parameters=params,
            architectures=sorted({n.split(".")[1] for n in namespaces if n.count(".") == 1
                                  and n.startswith(("training.", "evaluation."))}),
            seed=seed, study=tags.get(STUDY_TAG), variant=tags.get(VARIANT_TAG),
            role=tags.get(ROLE_TAG), rename=not config.tracking.run.name,
        )  # fmt: skip
        self._run = (run.info.experiment_id, run.info.run_id)

    @hook_impl
    def after_pipeline_run(self) -> None:
        if self._run is None:
            return
        from cxr_synth.runtime.mlflow_workspace import run_page_url

        experiment_id, run_id = self._run
        logger.info(
            "MLflow run: %s (for a local store, start the UI first: kedro mlflow ui)",
            run_page_url(_ui_base(self._context.mlflow), experiment_id, run_id),
        )
        self._run = None


def _create_experiment(mlflow_conf: dict[str, Any], uri: str | None) -> None:
    """The experiment kedro-mlflow will use, created before it looks (``ensure_experiment``),
    as a model-training one, with the creation options of ``mlflow.yml``."""
    from cxr_synth.runtime.mlflow_workspace import EXPERIMENT_KIND_TAG, MODEL_TRAINING

    experiment = (mlflow_conf.get("tracking") or {}).get("experiment") or {}
    options = experiment.get("create_experiment_kwargs") or {}
    ensure_experiment(
        uri, experiment.get("name", "Default"),
        artifact_location=options.get("artifact_location"),
        tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING, **(options.get("tags") or {})},
    )  # fmt: skip


def _ui_base(config) -> str:
    """Where the UI answers: the tracking server itself, or ``kedro mlflow ui``'s host and port
    (``config``: kedro-mlflow's parsed ``mlflow.yml``)."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    if uri.startswith(("http://", "https://")):
        return uri
    return f"http://{config.ui.host}:{config.ui.port}"


class TypedParamsLoggingHook:
    """Logs typed (validated) parameter inputs to MLflow flattened, as kedro-mlflow logs dicts.

    kedro-mlflow flattens only plain dicts (``training.loop.epochs``); a validated model would
    otherwise land as one string. The section itself is still logged by kedro-mlflow, as JSON.
    """

    @hook_impl
    def before_node_run(self, inputs: dict[str, Any]) -> None:
        if distributed_rank() > 0:
            return
        from pydantic import BaseModel

        typed = {k[len("params:"):]: v for k, v in inputs.items()
                 if k.startswith("params:") and isinstance(v, BaseModel)}  # fmt: skip
        if not typed:
            return
        import mlflow

        if mlflow.active_run() is None:
            return
        flat: dict[str, Any] = {}
        for name, model in typed.items():
            _flatten(name, model.model_dump(mode="json"), flat)
        mlflow.log_params({k: str(v)[:6000] for k, v in flat.items()})


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, into)
    else:
        into[prefix] = value


class DemoDataHook:
    """Runs the ``demo_data`` pipeline first when a run needs raw data that is not on disk.

    Active only while ``demo_data.generate_if_missing`` is true (the default environment);
    the ``nih`` environment switches it off so a wrong path fails loudly instead of
    silently training on phantoms.
    """

    def __init__(self) -> None:
        self._params: DemoDataParams | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        section = context.params.get("demo_data")  # a model when Kedro validated it, else a dict
        self._params = None if section is None else DemoDataParams.parse(section, prefix="demo_data")

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        if self._params is None or not self._params.generate_if_missing:
            return
        needed = [name for name in RAW_DATASETS if name in pipeline.inputs()]
        missing = [name for name in needed if not catalog.exists(name)]
        if not missing:
            return
        from cxr_synth.pipelines.demo_data import create_pipeline

        logger.info(
            "Raw data %s not found: generating the built-in demo data (procedural phantoms, "
            "not clinical images) first.",
            missing,
        )
        catalog["params:demo_data"] = MemoryDataset(self._params)  # typed, as its nodes expect
        SequentialRunner().run(create_pipeline(), catalog)


class DistributedRankHook:
    """Under ``torchrun``, only rank 0 writes the run's outputs.

    Every rank runs the same pipeline (DDP needs all of them in ``train_gan``); ranks other
    than 0 keep their outputs in memory instead of overwriting rank 0's files. kedro-mlflow is
    switched off on those ranks in ``settings.py``.
    """

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        rank = distributed_rank()
        if rank == 0:
            return
        for name in pipeline.all_outputs():
            catalog[name] = MemoryDataset()
        logger.info(
            "rank %d: %d outputs kept in memory; rank 0 writes them",
            rank,
            len(pipeline.all_outputs()),
        )
