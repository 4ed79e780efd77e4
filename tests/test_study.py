"""The whole study end to end through a real KedroSession: ... -> training -> synthesis -> evaluation."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxr_synth.models.registry import ARCHITECTURES
from tests.conftest import run_kedro
from tests.test_run import TINY_DEMO

TINY_STUDY = {
    **TINY_DEMO,
    "synthesis.n_images": 16,
    "synthesis.batch_size": 8,
    "synthesis.grid.n_columns": 4,
    "evaluation.backbone": "random",
    "evaluation.batch_size": 16,
    "evaluation.kid_subsets": 10,
    "evaluation.ms_ssim_pairs": 10,
    "evaluation.nn_candidates": 2,
    "evaluation.closest_pairs": 4,
}


def test_default_run_ends_in_the_comparison_table(workdir):
    run_kedro(workdir, ["__default__"], params=TINY_STUDY)

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

    # The store kedro-mlflow logged to (left as the current tracking URI by the session).
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("cxr_synth")
    runs = client.search_runs(
        [experiment.experiment_id], "metrics.`eval.proposed.FD_rand` > -1", max_results=1
    )
    fd = table.set_index("architecture").loc["proposed", "FD_rand"]
    assert runs and runs[0].data.metrics["eval.proposed.FD_rand"] == pytest.approx(fd)
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert {"comparison_table.csv", "comparison_table.md", "fid_kid_bars.png"} <= artifacts
