"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; ``__default__`` runs the study end to end."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = pipelines["ingestion"] + pipelines["preprocessing"]
    return pipelines
