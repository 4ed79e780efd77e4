"""The reporting pipeline's wiring: the dataset names agreed with the rest of the study."""

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro_datasets.text import TextDataset

from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.pipelines.reporting import create_pipeline
from cxr_synth.settings import CONFIG_LOADER_ARGS
from tests.conftest import make_project

FIGURES = {
    "synthesis_grid": "synthesis_grid@png",
    "fid_kid_bars": "fid_kid_bars@png",
    "ssim_psnr_bars": "ssim_psnr_bars@png",
    "segmentation_dice": "segmentation_dice_figure@png",
    **{
        f"{arch}__{figure}": f"{arch}_{figure}@png"
        for arch in ARCHITECTURES
        for figure in ("loss_curves", "fid_curve", "sample_grid", "closest_pairs")
    },
}
INPUTS = {
    "parameters": "parameters",
    "ingestion_summary": "ingestion_summary",
    "comparison_table": "study_comparison_table",
    "segmentation_summary": "segmentation_summary",
    **FIGURES,
}


CARDS = {f"{arch}_{name}" for arch in ARCHITECTURES for name in ("dataset_card", "dataset_card_md")}


def test_the_stage_adds_dice_then_writes_the_report_from_the_agreed_datasets():
    pipeline = create_pipeline()
    dice, report = [n for n in pipeline.nodes if not n.name.endswith("write_dataset_card")]
    assert dice.name == "reporting.add_dice_to_comparison"
    assert report.name == "reporting.build_study_report" and report.tags == {"reporting"}
    assert report._inputs == INPUTS  # keyword -> dataset
    card_inputs = {
        f"{arch}_{name}" for arch in ARCHITECTURES for name in ("synthesis_record", "report")
    }
    assert (
        pipeline.inputs()
        == set(INPUTS.values()) - {"study_comparison_table"} | {"comparison_table"} | card_inputs
    )
    assert pipeline.outputs() == {"study_report", "segmentation_metrics"} | CARDS


def test_every_architecture_gets_a_dataset_card_node():
    cards = [n for n in create_pipeline().nodes if n.name.endswith("write_dataset_card")]
    assert {n.name for n in cards} == {f"reporting.{a}.write_dataset_card" for a in ARCHITECTURES}
    assert all("reporting" in n.tags for n in cards)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> DataCatalog:
    """The base environment's catalog (every ``catalog*`` file), without the user's conf/local."""
    conf = make_project(tmp_path_factory.mktemp("project")) / "conf"
    return DataCatalog.from_config(OmegaConfigLoader(str(conf), **CONFIG_LOADER_ARGS)["catalog"])


def test_the_report_is_a_utf8_html_file_logged_to_mlflow(catalog, tmp_path, monkeypatch):
    report = catalog.get("study_report")
    assert isinstance(report, TextDataset) and report._logging_activated  # MlflowArtifactDataset
    assert report.metadata == {"kedro-viz": {"layer": "reporting"}}
    monkeypatch.chdir(tmp_path)  # the catalog's relative path lands here
    report._logging_activated = False  # no MLflow run in this test
    report.save("<p>Fréchet ±</p>")
    written = tmp_path / "data/08_reporting/study_report.html"
    assert written.read_bytes().decode("utf-8") == "<p>Fréchet ±</p>"


def test_every_input_is_declared_in_the_catalog(catalog):
    missing = [name for name in create_pipeline().inputs() - {"parameters"} if name not in catalog]
    assert not missing
