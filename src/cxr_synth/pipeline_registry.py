"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from cxr_synth.pipelines import training

# The study, in order; `kedro run` (``__default__``) runs all of it.
STUDY = ("ingestion", "preprocessing", "training")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Folders under ``pipelines/`` are found by name. The training template's per-architecture
    pipelines (``train_dcgan`` ... ``train_all``) are not folders, so they are added here.
    Kedro 1.7 imports only the pipelines a run asks for, so ``__default__`` is built from the
    study pipelines that were loaded (all of them for a plain ``kedro run``).
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines.update(training.create_pipelines())
    pipelines["__default__"] = sum(
        (pipelines[name] for name in STUDY if name in pipelines), Pipeline([])
    )
    return pipelines
