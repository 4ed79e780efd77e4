import math
import socket

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from cxr_synth.metrics import InceptionWeightsUnavailable, features
from cxr_synth.pipelines.evaluation.nodes import (
    build_comparison_table,
    compare_architectures,
    compute_evaluation_reference,
    compute_heldout_features,
    evaluate_architecture,
    plot_closest_pairs,
    plot_distribution_bars,
    plot_similarity_bars,
    resample_architecture,
)
from cxr_synth.pipelines.evaluation.params import EvaluationParams
from cxr_synth.pipelines.evaluation.pipeline import create_pipeline

EVALUATION = {
    "backbone": "random",
    "seed": 0,
    "batch_size": 16,
    "real_splits": ["train"],
    "heldout_splits": ["test"],
    "n_real": None,
    "n_heldout": None,
    "kid_subset_size": 1000,
    "kid_subsets": 10,
    "k_pr": 3,
    "k_dc": 5,
    "nn_candidates": 3,
    "ms_ssim_pairs": 20,
    "memorization_percentile": 1.0,
    "closest_pairs": 4,
}


def params(**overrides) -> EvaluationParams:
    return EvaluationParams.parse({**EVALUATION, **overrides})


NO_EXTERNAL = (np.zeros((0, 32, 32), np.uint8), {"name": "external", "n_images": 0})


SPEC = {"architecture": "dcgan", "best_epoch": 2, "epochs": 2}
COST = {"n_images": 16, "seconds": 0.5, "images_per_s": 32.0, "device": "cpu", "batch_size": 8}
HISTORY = pd.DataFrame(
    {"epoch": [1, 2], "images_per_s": [10.0, 30.0], "epoch_time_s": [3600.0, 1800.0]}
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (36, 32, 32), dtype=np.uint8)
    index = pd.DataFrame({"row": np.arange(36), "split": ["train"] * 24 + ["test"] * 12})
    reference, baseline = compute_evaluation_reference(images, index, *NO_EXTERNAL, params())
    return images, index, reference, baseline


@pytest.fixture(scope="module")
def report(data):
    images, _, reference, baseline = data
    fake = np.concatenate([images[:4], np.random.default_rng(1).integers(0, 256, (12, 32, 32))])
    fake = fake.astype(np.uint8)
    report = evaluate_architecture(fake, images, reference, baseline, SPEC, HISTORY, COST, params())
    return fake, report


def test_real_reference_is_computed_once_from_the_right_splits(data):
    _, _, reference, baseline = data
    np.testing.assert_array_equal(reference["train_rows"], np.arange(24))
    np.testing.assert_array_equal(reference["heldout_rows"], np.arange(24, 36))
    assert reference["real_features"].shape == (24, 544)
    assert str(reference["stats_backbone"]).startswith("rand-vgg6")
    assert baseline["fid_label"] == "FD_rand" and baseline["n_heldout"] == 12
    assert math.isfinite(baseline["metrics"]["baseline_FD_rand"])
    assert "baseline_FID" not in baseline["metrics"]


def test_n_real_caps_the_reference_but_not_the_training_set(data):
    images, index, _, _ = data
    reference, _ = compute_evaluation_reference(images, index, *NO_EXTERNAL, params(n_real=10))
    assert len(reference["real_rows"]) == 10 and len(reference["train_rows"]) == 24


def test_evaluate_architecture_reports_metrics_training_and_copies(report):
    _, result = report
    metrics = result["metrics"]
    for column in ("FD_rand", "KID_rand_mean", "precision_rand", "ssim_nn_mean"):
        assert math.isfinite(metrics[column])
    assert "FID" not in metrics and "baseline_FD_rand" in metrics
    assert metrics["n_exact_copies"] == 4  # the first four synthetic images are training images
    assert result["training"]["train_hours"] == pytest.approx(1.5)
    assert result["training"]["images_per_s"] == pytest.approx((10 * 3600 + 30 * 1800) / 5400)
    assert result["training"]["sampling_images_per_s"] == 32.0  # the price of one image
    assert result["training"]["best_epoch"] == 2
    assert sorted(f for f, _ in result["closest_pairs"][:4]) == [0, 1, 2, 3]
    assert all(f == row for f, row in result["closest_pairs"][:4])  # rows of nih_images_array
    assert any("held-out" in note for note in result["warnings"])


def test_an_external_set_adds_every_distribution_metric_against_it(data, report):
    images, index, _, _ = data
    fake, plain = report
    external = np.random.default_rng(7).integers(0, 128, (10, 32, 32), dtype=np.uint8)
    reference, baseline = compute_evaluation_reference(
        images, index, external, {"name": "montgomery", "n_images": 10}, params()
    )
    assert reference["external_features"].shape == (10, 544)
    assert baseline["external"] == {"name": "montgomery", "n": 10}
    assert math.isfinite(baseline["metrics"]["baseline_FD_rand_external"])
    result = evaluate_architecture(
        fake, images, reference, baseline, SPEC, HISTORY, COST, params()
    )
    metrics = result["metrics"]
    for column in ("FD_rand", "KID_rand_mean", "precision_rand", "coverage_rand"):
        assert math.isfinite(metrics[f"{column}_external"])
        assert metrics[column] == pytest.approx(plain["metrics"][column])  # in-split unchanged
    assert metrics["FD_rand_external"] != pytest.approx(metrics["FD_rand"])
    table, markdown, logged = build_comparison_table(baseline, result)
    assert {"FD_rand_external", "KID_rand_mean_external"} <= set(table.columns)
    assert "`montgomery` (10 images" in markdown
    assert "baseline.FD_rand_external" in logged
    assert "FD_rand_external" not in build_comparison_table(*data[3:], plain)[0]
    _, absent = compute_evaluation_reference(images, index, None, None, params())
    assert absent["external"] is None  # preprocessed before the external set existed


def test_a_different_backbone_than_the_cache_is_refused(data, report):
    images, _, reference, baseline = data
    fake, _ = report
    bad = params(seed=1)
    with pytest.raises(ValueError, match="cached real features"):
        evaluate_architecture(fake, images, reference, baseline, SPEC, HISTORY, COST, bad)


def test_closest_pairs_figure(data, report):
    images, *_ = data
    fake, result = report
    figure = plot_closest_pairs(result, fake, images, params(closest_pairs=3))
    assert isinstance(figure, Figure) and len(figure.axes) == 6


def test_comparison_table_one_row_per_architecture_and_markdown(data, report):
    _, _, _, baseline = data
    _, result = report
    other = {**result, "architecture": "proposed", "warnings": ["only proposed"]}
    table, markdown, metrics = build_comparison_table(baseline, result, other)
    assert list(table["architecture"]) == ["dcgan", "proposed"]
    assert "FD_rand" in table and "FID" not in table and "KID_rand_mean" in table
    assert table["dice"].isna().all() and (table["best_epoch"] == 2).all()
    assert (table["sampling_images_per_s"] == 32.0).all()
    assert "real (held-out) baseline" in markdown and "only proposed (proposed)" in markdown
    assert "rand-vgg6" in markdown
    assert metrics["dcgan.FD_rand"]["value"] == pytest.approx(table["FD_rand"][0])
    assert "dcgan.dice" not in metrics and "baseline.FD_rand" in metrics
    with pytest.raises(ValueError, match="different backbones"):
        build_comparison_table(baseline, result, {**other, "fid_label": "FID"})

    bars = plot_distribution_bars(table, baseline)
    assert isinstance(bars, Figure) and [a.get_title() for a in bars.axes] == [
        "FD_rand",
        "KID_rand_mean",
    ]
    assert [a.get_title() for a in plot_similarity_bars(table).axes] == [
        "ssim_nn_mean",
        "psnr_nn_mean",
    ]


def test_pipeline_shares_the_reference_and_ends_in_the_table():
    pipeline = create_pipeline()
    names = {node.name for node in pipeline.nodes}
    assert {
        "evaluation.compute_evaluation_reference",
        "evaluation.stylegan.evaluate_architecture",
    } <= names
    assert {
        "comparison_table",
        "comparison_table_md",
        "fid_kid_bars@matplotlib",
    } <= pipeline.all_outputs()
    assert "evaluation_real_reference" not in pipeline.inputs()


def test_the_table_gives_the_n_of_both_sets_behind_each_number(data, report):
    _, _, _, baseline = data
    fake, result = report
    table, markdown, _ = build_comparison_table(baseline, result)
    assert table.loc[0, "n_real"] == 24 and table.loc[0, "n_fake"] == len(fake)
    assert "n_real" in markdown and "n_fake" in markdown
    baseline_row = markdown.splitlines()[
        next(i for i, line in enumerate(markdown.splitlines()) if "real (held-out)" in line)
    ]
    assert "| 24 | 12 |" in baseline_row  # the baseline: 24 reference vs 12 held-out images


def test_evaluation_device_and_weights_reach_the_backbone(data, monkeypatch):
    images, index, _, _ = data
    calls = []
    real_build = features.build_backbone
    monkeypatch.setattr(
        features, "build_backbone", lambda *a, **k: calls.append(k) or real_build(*a, **k)
    )
    weights = {"download": False, "path": None, "timeout": 5}
    compute_evaluation_reference(
        images, index, *NO_EXTERNAL, params(device="cpu", inception_weights=weights)
    )
    assert calls[0]["device"] == torch.device("cpu")
    assert calls[0]["allow_download"] is False and calls[0]["timeout"] == 5.0


def test_bad_evaluation_parameters_are_refused_by_name():
    with pytest.raises(ValueError, match="evaluation.device: must be auto, cpu"):
        EvaluationParams.parse({**EVALUATION, "device": "gpu"}, prefix="evaluation")
    with pytest.raises(
        ValueError, match="evaluation.inception_weights.dowload: unknown key; did you mean"
    ):
        EvaluationParams.parse(
            {**EVALUATION, "inception_weights": {"dowload": True}}, prefix="evaluation"
        )
    with pytest.raises(ValueError, match="real_splits and heldout_splits share"):
        EvaluationParams.parse({**EVALUATION, "heldout_splits": ["train"]})


def test_a_failed_download_falls_back_to_fd_rand_with_its_warning(data, tmp_path, monkeypatch):
    """``auto`` with downloading on, against a closed port on 127.0.0.1 (no network)."""
    images, index, _, _ = data
    monkeypatch.delenv("CXR_SYNTH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/weights.pth"
    evaluation = {
        **EVALUATION,
        "backbone": "auto",
        "inception_weights": {"download": True, "url": url, "timeout": 2},
    }
    _, baseline = compute_evaluation_reference(
        images, index, *NO_EXTERNAL, EvaluationParams.parse(evaluation)
    )
    assert baseline["fid_label"] == "FD_rand"
    assert any(url in note and "FD_rand" in note for note in baseline["warnings"])
    with pytest.raises(InceptionWeightsUnavailable, match=url):
        compute_evaluation_reference(
            images,
            index,
            *NO_EXTERNAL,
            EvaluationParams.parse({**evaluation, "backbone": "inception"}),
        )


def test_heldout_sets_default_to_heldout_splits_and_may_be_named(data):
    images, index, _, _ = data
    index = index.assign(split=["train"] * 24 + ["val"] * 6 + ["test"] * 6)
    default = compute_heldout_features(images, index, params(heldout_splits=["val", "test"]))
    assert list(default) == ["heldout"] and default["heldout"].shape == (12, 544)
    named = compute_heldout_features(
        images, index, params(heldout_sets={"val": ["val"], "test": ["test"]})
    )
    assert {k: v.shape[0] for k, v in named.items()} == {"val": 6, "test": 6}
    with pytest.raises(ValueError, match="real_splits and heldout_sets.val share"):
        params(heldout_sets={"val": ["train"]})


def test_verdicts_of_one_run_separate_a_copy_of_the_data_from_noise(data):
    images, index, _, _ = data
    evaluation = params(resamples=20)
    heldout = compute_heldout_features(images, index, evaluation)
    noise = np.random.default_rng(2).integers(0, 256, (24, 32, 32), dtype=np.uint8)
    smooth = np.full((24, 32, 32), 128, np.uint8)
    frames = [
        resample_architecture({"architecture": name}, fake, heldout, evaluation)
        for name, fake in (("noise", noise), ("flat", smooth))
    ]
    assert frames[0]["resample"].nunique() == 20 and set(frames[0]["heldout_set"]) == {"heldout"}
    verdicts, markdown = compare_architectures(*frames)
    fd = verdicts[verdicts["metric"] == "FD_rand"].iloc[0]
    assert fd["verdict"] == "noise better than flat"  # the held-out images are noise too
    assert "noise better than flat" in markdown
    none, text = compare_architectures(frames[0].iloc[:0])
    assert none.empty and "No pair" in text
