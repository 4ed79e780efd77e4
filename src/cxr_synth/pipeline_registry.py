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
    segmentation_external,
    study_summary,
    synthesis,
    training,
)
from cxr_synth.pipelines.segmentation.pipeline import BASELINES


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; ``__default__`` (``kedro run``) is the whole study.

    Registered explicitly rather than with ``find_pipelines``: Kedro 1.7's ``find_pipelines``
    imports a requested name as a folder under ``pipelines/``, and the per-architecture
    ``train_<arch>``, ``synthesize_<arch>`` and ``evaluate_<arch>`` pipelines are instances of
    one template, not folders.

    ``segmentation_external`` (the saved U-Nets of every method on another lung-mask set) is not
    part of ``__default__``: it needs an external set, which ``--env nih`` does not have unless
    ``seg_external_root`` is set, and the whole study should not fail at its end for want of one.
    ``segmentation_external_baselines`` is the same for the ``none`` and ``classic`` U-Nets only
    (after a run that trained only those, e.g. studies/seg_cross_*.yml).
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
        "segmentation_external": segmentation_external.create_pipeline(),
        "segmentation_external_baselines": segmentation_external.create_pipeline(BASELINES),
        "study_summary": study_summary.create_pipeline(),  # after `kedro study run`'s seeds
        "__default__": sum(study.values(), Pipeline([])),
    }
