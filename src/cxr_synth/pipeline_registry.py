"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from cxr_synth.pipelines import (
    demo_data,
    evaluation,
    ingestion,
    preprocessing,
    reporting,
    segmentation,
    synthesis,
    training,
)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; ``__default__`` (``kedro run``) is the whole study.

    Registered explicitly rather than with ``find_pipelines``: Kedro 1.7's ``find_pipelines``
    imports a requested name as a folder under ``pipelines/``, and the per-architecture
    ``train_<arch>``, ``synthesize_<arch>`` and ``evaluate_<arch>`` pipelines are instances of
    one template, not folders.
    """
    study = {
        "ingestion": ingestion.create_pipeline(),
        "preprocessing": preprocessing.create_pipeline(),
        "training": training.create_pipeline(),
        "synthesis": synthesis.create_pipeline(),
        "evaluation": evaluation.create_pipeline(),
        "segmentation": segmentation.create_pipeline(),
        "reporting": reporting.create_pipeline(),
    }
    return {
        "demo_data": demo_data.create_pipeline(),
        **study,
        **training.create_pipelines(),
        **synthesis.create_pipelines(),
        **evaluation.create_pipelines(),
        "__default__": sum(study.values(), Pipeline([])),
    }
