"""The real reference and one generator's report, without Kedro (metrics.report)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxr_synth.metrics import RandomConvBackbone
from cxr_synth.metrics.options import MetricOptions
from cxr_synth.metrics.report import (
    architecture_report,
    real_reference,
    rows_view,
    training_summary,
)

OPTIONS = MetricOptions(kid_subset_size=10, kid_subsets=5, nn_candidates=2, ms_ssim_pairs=10)
HISTORY = pd.DataFrame({"epoch": [1, 2], "images_per_s": [10.0, 30.0], "epoch_time_s": [3.0, 1.0]})


def test_a_contiguous_run_of_rows_stays_a_view():
    images = np.arange(5 * 4).reshape(5, 2, 2)
    assert np.shares_memory(rows_view(images, np.array([1, 2, 3])), images)
    np.testing.assert_array_equal(rows_view(images, np.array([0, 4])), images[[0, 4]])


def test_reference_baseline_and_a_report_against_it(phantoms64, random_backbone):
    images = phantoms64[:60]
    real, heldout = np.arange(0, 40), np.arange(40, 60)
    reference, baseline = real_reference(
        images, real, real, heldout, random_backbone, OPTIONS, 16,
        external_images=phantoms64[200:220], external_name="other",
    )  # fmt: skip
    assert (baseline["n_real"], baseline["n_heldout"], baseline["fid_label"]) == (40, 20, "FD_rand")
    assert baseline["external"] == {"name": "other", "n": 20}
    assert "baseline_FD_rand" in baseline["metrics"]
    assert "baseline_FD_rand_external" in baseline["metrics"]
    assert reference["real_features"].shape[0] == 40

    synthetic = np.concatenate([images[:5], phantoms64[180:195]])
    cost = {"images_per_s": 50.0}
    report = architecture_report(
        synthetic, images, reference, baseline, {"architecture": "dcgan", "best_epoch": 2},
        HISTORY, cost, random_backbone, OPTIONS,
    )  # fmt: skip
    assert report["architecture"] == "dcgan" and report["fid_label"] == "FD_rand"
    assert report["metrics"]["baseline_FD_rand"] == baseline["metrics"]["baseline_FD_rand"]
    assert report["training"]["sampling_images_per_s"] == 50.0
    assert report["closest_pairs"][0][1] in range(5)  # a copied training image is found
    assert not any("baseline_ columns use" in w for w in report["warnings"])  # equal N (20)
    fewer = architecture_report(
        synthetic[:15], images, reference, baseline, {"architecture": "dcgan"}, HISTORY, None,
        random_backbone, OPTIONS,
    )  # fmt: skip
    assert any("20 held-out images but there are 15" in w for w in fewer["warnings"])
    assert np.isnan(fewer["training"]["sampling_images_per_s"])

    with pytest.raises(ValueError, match="cached real features"):
        architecture_report(synthetic, images, reference, baseline, {"architecture": "x"},
                            HISTORY, None, RandomConvBackbone(seed=1), OPTIONS)  # fmt: skip


def test_training_summary_weights_throughput_by_time():
    summary = training_summary({"best_epoch": None}, HISTORY)
    assert summary["train_hours"] == pytest.approx(4 / 3600)
    assert summary["images_per_s"] == pytest.approx((10 * 3 + 30 * 1) / 4)
    assert np.isnan(summary["best_epoch"]) and summary["epochs"] == 2
