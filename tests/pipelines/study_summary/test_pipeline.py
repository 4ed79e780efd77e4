"""The study_summary pipeline end to end (in-memory catalog), and its catalog entries."""

import numpy as np
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from cxr_synth.datasets import MlflowStudyDataset
from cxr_synth.pipelines.study_summary import create_pipeline
from cxr_synth.settings import CONFIG_LOADER_ARGS
from tests.conftest import make_project
from tests.study.test_summary import (
    FD,
    _resampled,
    comparison,
    histories,
    no_rows,
    runs_table,
    segmentation_runs,
)

OUTPUTS = {"study_runs", "study_seed_table", "study_seed_table_md", "study_seed_metrics",
           "study_learning_curves", "learning_curves@matplotlib", "study_seed_bars@matplotlib",
           "study_segmentation_table", "study_segmentation_table_md",
           "study_segmentation_dice@matplotlib", "study_verdicts", "study_verdicts_md",
           "study_rank_stability"}  # fmt: skip


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release: intermediate outputs stay inspectable."""

    def _release(self) -> None:
        pass


def test_three_seed_runs_become_tables_curves_and_figures():
    pipeline = create_pipeline()
    assert pipeline.all_outputs() == OUTPUTS
    catalog = DataCatalog(
        {
            **{name: KeptDataset() for name in OUTPUTS},
            "study_mlflow_runs": MemoryDataset(runs_table()),
            "study_mlflow_comparison_tables": MemoryDataset(comparison()),
            "study_mlflow_histories": MemoryDataset(histories()),
            "study_mlflow_resampled_metrics": MemoryDataset(_resampled({"dcgan": 1, "lsgan": 1})),
            "study_mlflow_segmentation_runs": MemoryDataset(no_rows("segmentation")),
            "params:study": MemoryDataset({"name": "demo", "seeds": [0, 1, 2]}),
            "params:study_summary": MemoryDataset({"bar_metrics": ["FID", "recall"]}),
        }
    )
    SequentialRunner().run(pipeline, catalog)
    table = catalog.load("study_seed_table")
    fd = table[table["metric"] == "FD_rand"].set_index("architecture")
    for arch in ("dcgan", "lsgan"):
        values = [FD[(arch, s)] for s in (0, 1, 2)]
        assert fd.at[arch, "std"] == pytest.approx(np.std(values, ddof=1))
    assert (catalog.load("study_learning_curves")["n_seeds"] == 3).all()
    assert "(3 seeds)" in catalog.load("study_seed_table_md")
    assert len(catalog.load("study_seed_bars@matplotlib").axes) == 2
    assert len(catalog.load("learning_curves@matplotlib").axes) == 6
    assert catalog.load("study_verdicts")["verdict"].tolist() == ["not separated"]


def test_a_segmentation_study_ends_with_a_dice_table_and_empty_gan_outputs():
    catalog = DataCatalog(
        {
            **{name: KeptDataset() for name in OUTPUTS},
            "study_mlflow_runs": MemoryDataset(runs_table((0,))),
            "study_mlflow_comparison_tables": MemoryDataset(no_rows("comparison")),
            "study_mlflow_histories": MemoryDataset(no_rows("histories")),
            "study_mlflow_resampled_metrics": MemoryDataset(no_rows("resampled")),
            "study_mlflow_segmentation_runs": MemoryDataset(segmentation_runs()),
            "params:study": MemoryDataset({"name": "demo", "seeds": [0]}),
            "params:study_summary": MemoryDataset({}),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    table = catalog.load("study_segmentation_table")
    assert list(zip(table["test_set"], table["method"], strict=True)) == [
        ("in", "none"), ("in", "classic"), ("ext", "none"), ("ext", "classic")
    ]  # fmt: skip
    assert "| in | classic |" in catalog.load("study_segmentation_table_md")
    figure = catalog.load("study_segmentation_dice@matplotlib")  # one panel per test set
    assert [axis.get_title()[:3] for axis in figure.axes] == ["in:", "ext"]
    assert catalog.load("study_seed_table").empty and catalog.load("study_learning_curves").empty
    assert catalog.load("study_seed_metrics") == {}


@pytest.fixture(scope="module")
def conf(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("project")) / "conf"


def test_the_catalog_reads_the_study_named_at_run_time_and_writes_under_its_folder(conf):
    loader = OmegaConfigLoader(str(conf), runtime_params={"study": {"name": "demo_seeds"}},
                               **CONFIG_LOADER_ARGS)  # fmt: skip
    catalog = DataCatalog.from_config(loader["catalog"])
    missing = [n for n in create_pipeline().datasets() if not n.startswith("params:")
               and n not in catalog]  # fmt: skip
    assert not missing
    histories_dataset = catalog.get("study_mlflow_histories")
    assert isinstance(histories_dataset, MlflowStudyDataset)
    assert histories_dataset._describe()["study"] == "demo_seeds"
    table = catalog.get("study_seed_table")
    assert "data/08_reporting/studies/demo_seeds/seed_table.csv" in str(table._filepath)
    dice = catalog.get("study_segmentation_table")
    assert "data/08_reporting/studies/demo_seeds/segmentation_table.csv" in str(dice._filepath)
    segmentation = catalog.get("study_mlflow_segmentation_runs")
    assert segmentation._describe()["study"] == "demo_seeds"
    assert segmentation._describe()["artifact"] == [
        "segmentation/*_runs.csv", "segmentation_external/*_runs.csv"
    ]  # fmt: skip
    assert loader["parameters"]["study"] == {"name": "demo_seeds", "seeds": []}  # both agree


def test_without_a_study_name_every_other_run_still_builds_its_catalog(conf):
    catalog = DataCatalog.from_config(OmegaConfigLoader(str(conf), **CONFIG_LOADER_ARGS)["catalog"])
    assert catalog.get("study_mlflow_runs")._describe()["study"] is None
