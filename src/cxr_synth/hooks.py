"""Project hooks: generate the built-in demo data when the raw folder is empty."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol
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
