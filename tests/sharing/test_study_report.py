"""The study report without Kedro: one HTML string with every table and figure inlined, on tiny
inputs."""

import base64
import io
import math
import re

import mlflow
import pandas as pd
import pytest
from PIL import Image

from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.sharing.study_report import study_report

PARAMETERS = {
    "preprocessing": {"resolution": 32},
    "training": {"loop": {"epochs": 3, "batch_size": 8}},
    "synthesis": {"n_images": 16},
    "evaluation": {"backbone": "random"},
    "dcgan": {"model": {"architecture": "dcgan", "options": {"g_width": 4}}, "loop": {}},
    "note": "<b>not bold</b>",
}
INGESTION = {
    "counts": {
        "rows_in_csv": 40,
        "manifest_rows": 30,
        "split_train": 20,
        "split_test": 10,
        "patients_train": 7,
        "patients_test": 3,
    },
    "rejects_by_reason": {"image file missing": 10},
}
COMPARISON = pd.DataFrame(
    {
        "architecture": ["dcgan", "<script>alert(1)</script>"],
        "FD_rand": [12.3456789, 45.6],
        "memorization_fraction": [0.0625, math.nan],
        "dice": [0.91234, math.nan],
    }
)
SEGMENTATION = pd.DataFrame(
    {
        "method": ["none", "dcgan"],
        "n_seeds": [2, 2],
        "dice_mean": [0.8, 0.85],
        "dice_std": [0.01, math.nan],
        "iou_mean": [0.7, 0.75],
        "iou_std": [0.02, 0.03],
        "dice_delta_vs_none": [math.nan, 0.05],
        "p_value": [math.nan, 0.0312],
    }
)
FIGURE_NAMES = [
    "synthesis_grid",
    "fid_kid_bars",
    "ssim_psnr_bars",
    "segmentation_dice",
    *(
        f"{arch}__{figure}"
        for arch in ARCHITECTURES
        for figure in ("loss_curves", "fid_curve", "sample_grid", "closest_pairs")
    ),
]


def figures() -> dict[str, Image.Image]:
    """A distinct 4x3 RGBA image per figure (pixel value = its position in FIGURE_NAMES)."""
    return {name: Image.new("RGBA", (4, 3), (i, 0, 0, 255)) for i, name in enumerate(FIGURE_NAMES)}


def inlined_images(page: str) -> list[Image.Image]:
    data = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    return [Image.open(io.BytesIO(base64.b64decode(d))) for d in data]


@pytest.fixture
def no_run():
    while mlflow.active_run() is not None:  # a run left over by another test in this process
        mlflow.end_run()


def test_every_figure_is_inlined_as_a_png(no_run):
    page = study_report(PARAMETERS, INGESTION, COMPARISON, SEGMENTATION, figures())
    images = inlined_images(page)
    assert page.count("data:image/png;base64,") == len(FIGURE_NAMES) == len(images)
    assert sorted(image.getpixel((0, 0))[0] for image in images) == list(range(len(FIGURE_NAMES)))
    assert "not available" not in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # no external file, opens offline


def test_tables_parameters_and_counts_are_shown(no_run):
    page = study_report(PARAMETERS, INGESTION, COMPARISON, SEGMENTATION, figures())
    for value in ("12.35", "45.6", "0.0625", "0.9123", "0.0312", "0.85"):
        assert f"<td>{value}</td>" in page
    assert "<td>n/a</td>" in page  # NaN cells
    assert "<th>resolution (px)</th><td>32</td>" in page
    assert "<th>synthetic images per architecture</th><td>16</td>" in page
    assert "<td>dcgan</td>\n      <td>g_width=4</td>\n      <td>none</td>" in page  # options
    assert "<td>train</td>\n      <td>20</td>\n      <td>7</td>" in page  # split, images, patients
    assert "<th>image file missing</th><td>10</td>" in page
    assert "<details><summary>All parameters</summary>" in page
    assert "FD_rand is not FID" in page and "docs/metrics.md" in page


def test_text_is_escaped(no_run):
    page = study_report(PARAMETERS, INGESTION, COMPARISON, SEGMENTATION, figures())
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>" not in page and "&lt;b&gt;not bold&lt;/b&gt;" in page  # in the parameters JSON


def test_empty_inputs_and_missing_figures_do_not_crash(no_run):
    page = study_report({}, {}, pd.DataFrame(), pd.DataFrame(columns=SEGMENTATION.columns))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("figure not available") == len(FIGURE_NAMES)
    assert "No rows." in page and "FD_rand is not FID" not in page
    assert "No active MLflow run" in page
    with_none = study_report({}, {}, COMPARISON, SEGMENTATION, {"synthesis_grid": None})
    assert with_none.count("figure not available") == len(FIGURE_NAMES)


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")  # mlflow's
def test_run_information_comes_from_the_active_mlflow_run(no_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # artifacts, if any, go to ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment("report-test")
        with mlflow.start_run(run_name="study") as run:
            # what kedro-mlflow tags: the Kedro session, not the default env (its name is None)
            mlflow.set_tags({"run_id": "2025-01-01T00.00.00.000Z", "kedro_command": "kedro run"})
            default_env = study_report({}, {}, COMPARISON, SEGMENTATION)
            mlflow.set_tag("env", "nih")
            page = study_report({}, {}, COMPARISON, SEGMENTATION)
    finally:
        mlflow.set_tracking_uri(None)
    assert "No active MLflow run" not in page
    assert f"<th>MLflow run id</th><td>{run.info.run_id}</td>" in page
    assert "<th>MLflow experiment</th><td>report-test</td>" in page
    assert "<th>MLflow tracking URI</th><td>sqlite:///mlflow.db</td>" in page  # project-relative
    assert "<th>Kedro session</th><td>2025-01-01T00.00.00.000Z</td>" in page
    assert "<th>Kedro command</th><td>kedro run</td>" in page
    assert "<th>Kedro environment</th><td>nih</td>" in page  # tags set after the run started
    assert "<th>Kedro environment</th><td>default (base + local)</td>" in default_env
