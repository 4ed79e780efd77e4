"""The reporting node: what Kedro hands it (validated models, figure keywords) reaches the page;
the page itself: tests/sharing/test_study_report.py."""

import pytest

from cxr_synth.pipelines.reporting.nodes import build_study_report
from tests.sharing.test_study_report import (
    COMPARISON,
    FIGURE_NAMES,
    INGESTION,
    PARAMETERS,
    SEGMENTATION,
    figures,
    inlined_images,
)


@pytest.fixture
def no_run():
    import mlflow

    while mlflow.active_run() is not None:  # a run left over by another test in this process
        mlflow.end_run()


def test_the_figure_keywords_reach_the_page(no_run):
    page = build_study_report(PARAMETERS, INGESTION, COMPARISON, SEGMENTATION, **figures())
    assert len(inlined_images(page)) == len(FIGURE_NAMES) and "not available" not in page


def test_typed_sections_show_their_values(no_run):
    """Kedro hands the report validated models, not dicts: their values, not n/a or nulls."""
    from cxr_synth.pipelines.training.params import LoopOverrides, ModelParams

    typed = {
        **PARAMETERS,
        "dcgan": {
            "model": ModelParams.parse({"architecture": "dcgan", "options": {"g_width": 4}}),
            "loop": LoopOverrides.parse({"epochs": 2}),
        },
    }
    page = build_study_report(typed, INGESTION, COMPARISON, SEGMENTATION, **figures())
    assert "<td>dcgan</td>\n      <td>g_width=4, d_width=64," in page  # the subclass's fields
    assert "<td>epochs=2</td>" in page  # the override set, not every unset key as None
