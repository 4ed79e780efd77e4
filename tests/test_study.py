"""The whole study end to end through a real KedroSession: ... -> evaluation -> segmentation."""

import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxr_synth.models.registry import ARCHITECTURES, CONDITIONAL_ARCHITECTURES
from tests.browser import WINDOW, needs_browser, rendered_dom, screenshot, visible_text
from tests.conftest import TINY_STUDY_RUN


def test_default_run_ends_in_the_comparison_table(tiny_study):
    workdir = tiny_study

    out = workdir / "data/07_model_output"
    for arch in ARCHITECTURES:
        synthetic = np.load(out / arch / "synthetic.npy")
        assert synthetic.shape == (16, 32, 32) and synthetic.dtype == np.uint8
        pngs = sorted((out / arch / "png").glob("*.png"))
        assert [p.stem for p in pngs[:2]] == ["synthetic_00000", "synthetic_00001"]
        assert len(pngs) == 16
        np.testing.assert_array_equal(np.asarray(Image.open(pngs[0])), synthetic[0])
        assert (workdir / f"data/08_reporting/{arch}/closest_pairs.png").exists()

    reporting = workdir / "data/08_reporting"
    table = pd.read_csv(reporting / "comparison_table.csv")
    assert sorted(table["architecture"]) == sorted(ARCHITECTURES)
    assert "FD_rand" in table and "FID" not in table
    metrics = table[["FD_rand", "KID_rand_mean", "ssim_nn_mean", "psnr_nn_mean", "precision_rand",
                     "recall_rand", "density_rand", "coverage_rand", "memorization_fraction",
                     "train_hours", "images_per_s", "best_epoch"]]  # fmt: skip
    assert np.isfinite(metrics.to_numpy()).all()
    assert table["dice"].isna().all()
    markdown = (reporting / "comparison_table.md").read_text()
    assert "FD_rand" in markdown and "n_fake=16" in markdown  # the small-N warning is carried
    for figure in ("synthesis_grid", "fid_kid_bars", "ssim_psnr_bars"):
        assert (reporting / f"{figure}.png").exists()

    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("cxr_synth")
    runs = client.search_runs(
        [experiment.experiment_id], "metrics.`eval.proposed.FD_rand` > -1", max_results=1
    )
    fd = table.set_index("architecture").loc["proposed", "FD_rand"]
    assert runs and runs[0].data.metrics["eval.proposed.FD_rand"] == pytest.approx(fd)
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert {"comparison_table.csv", "comparison_table.md", "fid_kid_bars.png"} <= artifacts


def test_default_run_ends_in_the_dice_table_and_figure_10(tiny_study):
    reporting = tiny_study / "data/08_reporting"
    summary = pd.read_csv(reporting / "segmentation/summary.csv")
    methods = ["none", "classic", *ARCHITECTURES, *CONDITIONAL_ARCHITECTURES]
    assert list(summary["method"]) == methods
    assert (summary["n_seeds"] == 2).all() and summary["dice_mean"].between(0, 1).all()
    assert summary["dice_std"].notna().all()  # two seeds: a spread exists
    assert summary.set_index("method").loc[methods[2:], "n_synthetic"].gt(0).all()
    assert "Wilcoxon" in (reporting / "segmentation/summary.md").read_text()
    assert (reporting / "segmentation/dice.png").exists()

    runs = pd.read_csv(reporting / "segmentation/dcgan_runs.csv")
    test_images = pd.read_parquet(tiny_study / "data/05_model_input/seg_split_index.parquet")
    test_rows = test_images.loc[test_images["split"] == "test", "row"]
    assert set(runs["image"]) == {f"img{row:05d}" for row in test_rows}  # pseudonyms, not stems
    assert set(runs["seed"]) == {0, 1}

    mask_files = {"dcgan": "07_model_output/dcgan/pairs/masks.npy",  # sampled with its images
                  "mask2image": "04_feature/seg_deformed_masks.npy"}  # rendered on
    for arch, mask_file in mask_files.items():
        masks = np.load(tiny_study / "data" / mask_file)
        images = np.load(tiny_study / f"data/07_model_output/{arch}/pairs/images.npy")
        assert masks.shape == images.shape and set(np.unique(masks)) <= {0, 1}

    table = pd.read_csv(reporting / "study_comparison_table.csv").set_index("architecture")
    dice = summary.set_index("method")["dice_mean"]
    np.testing.assert_allclose(table.loc[list(ARCHITECTURES), "dice"], dice[list(ARCHITECTURES)])


def test_default_run_ends_in_one_self_contained_report(tiny_study):
    html = (tiny_study / "data/08_reporting/study_report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 4 + 4 * len(ARCHITECTURES)
    assert "figure not available" not in html and "FD_rand" in html
    summary = pd.read_csv(tiny_study / "data/08_reporting/segmentation/summary.csv")
    assert all(method in html for method in summary["method"])
    mlflow.set_tracking_uri(f"sqlite:///{tiny_study / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["cxr_synth"])
    study = runs["tags.mlflow.parentRunId"].isna() & (runs["tags.mlflow.runName"] == TINY_STUDY_RUN)
    parent = runs.loc[study, "run_id"].item()
    assert parent in html  # the report names the run it came from
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent)}
    assert "study_report.html" in artifacts


@needs_browser
def test_the_report_shows_its_parameters_and_fits_the_window_in_chromium(tiny_study, tmp_path):
    """Rendered as a reader sees it: the key parameters' real values, and no table that widens
    the page (wide tables scroll inside their own box). A script added to a copy of the report
    records the page's width where --dump-dom can read it."""
    report = (tiny_study / "data/08_reporting/study_report.html").read_text(encoding="utf-8")
    probe = ("<script>document.body.dataset.pageWidth = "
             "document.documentElement.scrollWidth;</script></body>")  # fmt: skip
    copy = tmp_path / "report.html"
    copy.write_text(report.replace("</body>", probe), encoding="utf-8")
    screenshot(copy.as_uri(), tmp_path / "report.png")  # for a human to look at
    dom = rendered_dom(copy.as_uri(), tmp_path / "dom-profile")
    width = int(re.search(r'data-page-width="(\d+)"', dom).group(1))
    assert width <= WINDOW[0], f"the page is {width} px wide in a {WINDOW[0]} px window"
    text = visible_text(dom)
    section = text[text.index("Key parameters"):][:600]
    for shown in ("resolution (px) 32", "epochs 1", "batch size 8",
                  "synthetic images per architecture 16", "evaluation backbone random"):  # fmt: skip
        assert shown in section, section
    assert "n/a" not in section
