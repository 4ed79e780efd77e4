import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from cxr_synth.models.registry import ARCHITECTURES, CONDITIONAL_ARCHITECTURES, build_gan
from cxr_synth.pipelines.reporting.nodes import add_dice_to_comparison
from cxr_synth.pipelines.segmentation.nodes import (
    deform_training_masks,
    plot_segmentation_dice,
    run_segmentation_experiment,
    sample_labelled_pairs,
    sample_on_masks,
    split_segmentation_set,
    summarise_segmentation,
)
from cxr_synth.pipelines.segmentation.params import SegmentationParams
from cxr_synth.pipelines.segmentation.pipeline import create_pipeline
from cxr_synth.runtime.errors import UserError
from cxr_synth.segmentation import build_unets, evaluate_unet
from cxr_synth.sharing.generator import DIGEST, weights_digest

SPLIT = {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0}


def seg(split: dict, low_data: dict) -> SegmentationParams:
    return SegmentationParams.parse({"split": split, "low_data": low_data})


def _index(n_patients: int = 20, per_patient: int = 2) -> pd.DataFrame:
    rows = [(p, v) for p in range(n_patients) for v in range(per_patient)]
    return pd.DataFrame(
        {
            "row": range(len(rows)),
            "stem": [f"P{p:03d}_{v}" for p, v in rows],
            "patient_id": [f"P{p:03d}" for p, _ in rows],
        }
    )


def test_split_is_patient_level_and_seeded():
    index = _index()
    split, summary = split_segmentation_set(index, seg(SPLIT, {"fraction": 1.0}))
    assert (split.groupby("patient_id")["split"].nunique() == 1).all()
    assert summary["patients"] == {"train": 12, "val": 4, "test": 4, "train_unused": 0}
    assert summary["images"]["train"] == 24
    again, _ = split_segmentation_set(index, seg(SPLIT, {"fraction": 1.0}))
    pd.testing.assert_frame_equal(split, again)
    other, _ = split_segmentation_set(index, seg({**SPLIT, "seed": 1}, {"fraction": 1.0}))
    assert not other["split"].equals(split["split"])


def test_low_data_keeps_val_and_test_and_marks_the_rest_unused():
    index = _index()
    full, _ = split_segmentation_set(index, seg(SPLIT, {"fraction": 1.0}))
    low, summary = split_segmentation_set(index, seg(SPLIT, {"n_train": 6}))
    assert summary["images"]["train"] == 6 and summary["images"]["train_unused"] == 18
    for name in ("val", "test"):
        assert (low["split"] == name).equals(full["split"] == name)
    half, summary = split_segmentation_set(index, seg(SPLIT, {"n_train": None, "fraction": 0.5}))
    assert summary["images"]["train"] == 12


def test_split_errors_name_the_fix():
    with pytest.raises(ValueError, match="test_fraction"):
        split_segmentation_set(_index(n_patients=2), seg(SPLIT, {"fraction": 1.0}))
    with pytest.raises(ValueError, match="low_data.fraction: Input should be greater than 0"):
        seg(SPLIT, {"fraction": 0})
    with pytest.raises(ValueError, match="seg_rejects"):
        split_segmentation_set(_index().iloc[:0], seg(SPLIT, {"fraction": 1.0}))


def _pair_generator(channels: int = 2):
    gan = build_gan("dcgan", resolution=32, channels=channels, latent_dim=16, seed=0,
                    g_width=4, d_width=4)  # fmt: skip
    spec = {"architecture": "dcgan", "options": {"g_width": 4, "d_width": 4}, "resolution": 32,
            "channels": channels, "latent_dim": 16}  # fmt: skip
    return gan.generator.state_dict(), spec


SEGMENTATION = {"synthetic_ratio": 0.5, "synthesis": {"batch_size": 4, "seed": 1, "device": "cpu"}}


def test_labelled_pairs_are_aligned_binary_masks_in_the_requested_ratio():
    state, spec = _pair_generator()
    split, _ = split_segmentation_set(_index(), seg(SPLIT, {"fraction": 1.0}))
    images, masks = sample_labelled_pairs(
        state, spec, split, SegmentationParams.parse(SEGMENTATION)
    )
    assert images.shape == masks.shape == (12, 32, 32)  # 0.5 x 24 training images
    assert images.dtype == masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 1}
    # the mask is the generator's second channel thresholded at its midpoint
    from cxr_synth.sharing.sampling import sample_images

    raw = sample_images(state, spec, n_images=12, **SEGMENTATION["synthesis"])
    np.testing.assert_array_equal(images, raw[:, 0])
    np.testing.assert_array_equal(masks, raw[:, 1] >= 128)


def test_a_one_channel_generator_cannot_label_pairs():
    state, spec = _pair_generator(channels=1)
    split, _ = split_segmentation_set(_index(), seg(SPLIT, {"fraction": 1.0}))
    with pytest.raises(ValueError, match="2-channel"):
        sample_labelled_pairs(state, spec, split, SegmentationParams.parse(SEGMENTATION))


def test_deformed_training_masks_are_new_binary_masks_in_the_requested_ratio():
    images, masks, split = _disc_set(n=20)
    masks[split["split"].to_numpy() != "train"] = 1  # val/test masks: whole frames
    params = SegmentationParams.parse({"synthetic_ratio": 1.5})
    new = deform_training_masks(masks, split, params)
    n_train = int((split["split"] == "train").sum())
    assert new.shape == (round(1.5 * n_train), 32, 32) and new.dtype == np.uint8
    assert set(np.unique(new)) == {0, 1} and new.reshape(len(new), -1).mean(1).max() < 0.5
    np.testing.assert_array_equal(new, deform_training_masks(masks, split, params))  # seeded
    other = params.model_copy(update={"mask_deformation": params.mask_deformation.model_copy(
        update={"seed": 1})})  # fmt: skip
    assert not np.array_equal(new, deform_training_masks(masks, split, other))


def _mask2image_generator():
    options = {"g_width": 4, "d_width": 4, "max_width": 8, "g_depth": 3, "d_layers": 2}
    gan = build_gan("mask2image", resolution=32, channels=2, seed=0, **options)
    state = gan.generator.state_dict()
    spec = {"architecture": "mask2image", "options": options, "resolution": 32, "channels": 2,
            "latent_dim": 32 * 32, DIGEST: weights_digest(state)}  # fmt: skip
    return state, spec


def test_images_are_rendered_one_per_mask_and_seeded():
    state, spec = _mask2image_generator()
    _, masks, split = _disc_set()
    params = SegmentationParams.parse(SEGMENTATION)
    images = sample_on_masks(state, spec, masks, params)
    assert images.shape == masks.shape and images.dtype == np.uint8
    np.testing.assert_array_equal(images, sample_on_masks(state, spec, masks, params))
    reseeded = SegmentationParams.parse({**SEGMENTATION, "synthesis": {"seed": 2, "device": "cpu"}})
    assert not np.array_equal(images, sample_on_masks(state, spec, masks, reseeded))  # dropout
    assert len({images[i].tobytes() for i in range(len(images))}) == len(images)
    with pytest.raises(UserError, match="does not match"):
        sample_on_masks(state, {**spec, DIGEST: "0" * 64}, masks, params)


def _runs(method: str, dice_by_seed: dict[int, list[float]]) -> pd.DataFrame:
    rows = [
        {"method": method, "seed": seed, "image": f"img{i}", "dice": d, "iou": d / (2 - d),
         "n_real": 10, "n_synthetic": 0 if method == "none" else 10, "epochs_run": 3}
        for seed, values in dice_by_seed.items()
        for i, d in enumerate(values)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_means_over_seeds_and_pairs_with_none():
    none = _runs("none", {0: [0.8, 0.7, 0.9, 0.6, 0.75, 0.85], 1: [0.7, 0.7, 0.7, 0.7, 0.7, 0.7]})
    gan = _runs("dcgan", {0: [0.9, 0.8, 1.0, 0.7, 0.85, 0.95], 1: [0.8, 0.8, 0.8, 0.8, 0.8, 0.8]})
    table, markdown = summarise_segmentation(none=none, dcgan=gan)
    row = table.set_index("method").loc["dcgan"]
    assert row["dice_mean"] == pytest.approx((5.2 / 6 + 0.8) / 2)
    assert row["dice_std"] == pytest.approx(np.std([5.2 / 6, 0.8], ddof=1))
    assert row["dice_delta_vs_none"] == pytest.approx(0.1)
    assert 0 < row["p_value"] < 0.05  # every image improved
    assert math.isnan(table.set_index("method").loc["none", "p_value"])
    assert "dcgan" in markdown and "Wilcoxon" in markdown


def test_dice_fills_the_comparison_table_and_figure_10():
    none = _runs("none", {0: [0.8, 0.7], 1: [0.7, 0.6]})
    gan = _runs("dcgan", {0: [0.9, 0.8], 1: [0.8, 0.7]})
    summary, _ = summarise_segmentation(none=none, dcgan=gan)
    comparison = pd.DataFrame({"architecture": ["dcgan", "lsgan"], "dice": [np.nan, np.nan],
                               "train_hours": [0.1, 0.2]})  # fmt: skip
    table, metrics = add_dice_to_comparison(comparison, summary)
    assert table.loc[0, "dice"] == pytest.approx(0.8) and math.isnan(table.loc[1, "dice"])
    assert list(table.columns) == ["architecture", "dice", "dice_std", "train_hours"]
    assert metrics["dcgan.dice"]["value"] == pytest.approx(0.8)
    assert metrics["none.dice"]["value"] == pytest.approx(0.7)
    assert "none.dice_delta" not in metrics  # undefined for the baseline itself: not logged
    assert isinstance(plot_segmentation_dice(summary), Figure)


def _disc_set(n: int = 12, size: int = 32):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    images = np.zeros((n, size, size), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx, r = rng.integers(10, 22), rng.integers(10, 22), rng.integers(5, 9)
        masks[i] = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        images[i] = np.clip(40 + 160 * masks[i] + rng.normal(0, 10, (size, size)), 0, 255)
    split, _ = split_segmentation_set(
        _index(n_patients=n, per_patient=1), seg(SPLIT, {"fraction": 1.0})
    )
    return images, masks, split


EXPERIMENT = {
    "seeds": [0, 1],
    "eval_batch_size": 8,
    "classic_augmentation": {"rotation_degrees": 5, "scale": [0.95, 1.05], "brightness": 0.05,
                             "contrast": 0.05, "horizontal_flip": False},
    "unet": {"epochs": 2, "batch_size": 4, "learning_rate": 0.01, "patience": 2, "base_width": 4,
             "depth": 2, "device": "cpu"},
}  # fmt: skip


@pytest.mark.parametrize("method", ["none", "classic", "dcgan"])
def test_experiment_trains_one_unet_per_seed_and_scores_every_test_image(method):
    images, masks, split = _disc_set()
    synthetic = {}
    if method == "dcgan":
        synthetic = {"synthetic_images": images[:5], "synthetic_masks": masks[:5]}
    runs, unets, spec = run_segmentation_experiment(
        images, masks, split, SegmentationParams.parse(EXPERIMENT), method, **synthetic
    )
    n_test = int((split["split"] == "test").sum())
    assert len(runs) == 2 * n_test and set(runs["seed"]) == {0, 1}
    test = split.loc[split["split"] == "test"]
    assert set(runs["image"]) == {f"img{row:05d}" for row in test["row"]}  # pseudonyms
    assert not set(runs["image"]) & set(split["stem"])
    assert runs["dice"].between(0, 1).all() and (runs["method"] == method).all()
    assert (runs["n_synthetic"] == (5 if method == "dcgan" else 0)).all()
    # the trained U-Nets come back as weights + spec, and rebuild to the same test scores
    assert sorted(unets) == [0, 1] and spec["seeds"] == [0, 1] and spec["method"] == method
    assert (spec["resolution"], spec["base_width"], spec["depth"]) == (32, 4, 2)
    rebuilt = build_unets(spec, unets)
    for seed, model in rebuilt.items():
        scores = evaluate_unet(model, images[test["row"]], masks[test["row"]], device="cpu")
        np.testing.assert_allclose(scores["dice"], runs.loc[runs["seed"] == seed, "dice"])


@pytest.mark.parametrize(
    ("method", "with_classic", "augmented"),
    [("dcgan", False, False), ("dcgan", True, True), ("none", True, False), ("classic", False, True)],
)
def test_synthetic_with_classic_augments_a_gan_methods_real_and_synthetic_images(
    monkeypatch, method, with_classic, augmented
):
    seen = []

    def stop_at_training(train_set, *args, **kwargs):
        seen.extend(train_set.datasets)
        raise RuntimeError("stop")

    monkeypatch.setattr("cxr_synth.segmentation.experiment.train_unet", stop_at_training)
    images, masks, split = _disc_set()
    synthetic = {}
    if method == "dcgan":
        synthetic = {"synthetic_images": images[:5], "synthetic_masks": masks[:5]}
    params = SegmentationParams.parse({**EXPERIMENT, "synthetic_with_classic": with_classic})
    with pytest.raises(RuntimeError, match="stop"):
        run_segmentation_experiment(images, masks, split, params, method, **synthetic)
    assert len(seen) == (2 if method == "dcgan" else 1)
    assert all((part.augmentation is not None) == augmented for part in seen)


@pytest.mark.parametrize(
    ("method", "equal_steps", "ratio", "scaled"),
    [("classic", True, 1.0, True), ("none", True, 2.0, True), ("classic", False, 1.0, False),
     ("dcgan", True, 1.0, False)],
)  # fmt: skip
def test_equal_steps_gives_none_and_classic_the_steps_of_the_synthetic_methods(
    monkeypatch, method, equal_steps, ratio, scaled
):
    budgets = []

    def stop_at_training(train_set, val_images, val_masks, config, **kwargs):
        budgets.append((len(train_set), config.epochs, config.patience))
        raise RuntimeError("stop")

    monkeypatch.setattr("cxr_synth.segmentation.experiment.train_unet", stop_at_training)
    images, masks, split = _disc_set()
    n_train = int((split["split"] == "train").sum())
    unet = {**EXPERIMENT["unet"], "epochs": 10, "patience": 5, "batch_size": 4}
    params = SegmentationParams.parse({**EXPERIMENT, "unet": unet, "equal_steps": equal_steps,
                                       "synthetic_ratio": ratio})  # fmt: skip
    n_synthetic = round(n_train * ratio)
    synthetic = {}
    if method == "dcgan":
        synthetic = {"synthetic_images": images[:n_synthetic], "synthetic_masks": masks[:n_synthetic]}
    with pytest.raises(RuntimeError, match="stop"):
        run_segmentation_experiment(images, masks, split, params, method, **synthetic)
    (size, epochs, patience), = budgets
    steps = size // 4 * epochs  # batches of 4, the last partial one dropped
    with_pairs = (n_train + n_synthetic) // 4 * 10
    assert (steps >= with_pairs and steps - with_pairs < size // 4) if scaled else epochs == 10
    assert (patience > 5) == scaled


def test_pipeline_runs_every_method_and_feeds_the_report():
    pipeline = create_pipeline()
    experiments = {n.name for n in pipeline.nodes if n.name.endswith("run_segmentation_experiment")}
    methods = ("none", "classic", *ARCHITECTURES, "mask2image")
    assert experiments == {f"segmentation.{m}.run_segmentation_experiment" for m in methods}
    assert {f"{m}_{out}" for m in methods for out in ("unets", "unet_spec")} <= pipeline.outputs()
    for arch in (*ARCHITECTURES, *CONDITIONAL_ARCHITECTURES):
        assert f"pairs_{arch}_synthetic_images" in pipeline.all_outputs()
    # mask2image: its masks are deformed real ones, made before its training (the FD renders them)
    stage = pipeline.only_nodes_with_namespaces(["segmentation.pairs.mask2image"])
    assert {n.name.rsplit(".", 1)[1] for n in stage.nodes} == {
        "train_generator", "sample_on_masks", "plot_loss_curves", "plot_fid_curve"}  # fmt: skip
    train = next(n for n in stage.nodes if n.name.endswith("train_generator"))
    deform = next(n for n in pipeline.nodes if n.name == "segmentation.deform_training_masks")
    assert deform.outputs == ["seg_deformed_masks"] and "seg_deformed_masks" in train.inputs
    experiment = next(n for n in pipeline.nodes
                      if n.name == "segmentation.mask2image.run_segmentation_experiment")  # fmt: skip
    assert "seg_deformed_masks" in experiment.inputs  # the U-Nets' masks are the rendered ones
    assert "mask2image_generator" not in pipeline.inputs()  # no NIH-trained start
    assert {"segmentation_summary", "segmentation_dice_figure@matplotlib"} <= pipeline.all_outputs()
    assert "seg_images_array" in pipeline.inputs() and "dcgan_generator" in pipeline.inputs()


def test_augmentation_ranges_must_ascend():
    with pytest.raises(ValueError, match="gamma must be"):
        SegmentationParams.model_validate({"classic_augmentation": {"gamma": [1.4, 0.7]}})
