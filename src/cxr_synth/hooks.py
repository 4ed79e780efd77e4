"""Project hooks: demo data when the raw folder is empty; rank-0-only outputs under torchrun."""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

logger = logging.getLogger(__name__)

RAW_DATASETS = ("nih_metadata", "nih_images", "seg_raw")


class DemoDataHook:
    """Runs the ``demo_data`` pipeline first when a run needs raw data that is not on disk.

    Active only while ``demo_data.generate_if_missing`` is true (the default environment);
    the ``nih`` environment switches it off so a wrong path fails loudly instead of
    silently training on phantoms.
    """

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._params = context.params.get("demo_data", {})

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        if not self._params.get("generate_if_missing", False):
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


def distributed_rank() -> int:
    """This process's rank under ``torchrun`` (0 when not distributed)."""
    return int(os.environ.get("RANK", "0"))
