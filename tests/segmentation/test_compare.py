"""Paired comparison of two methods on the same images."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cxr_synth.segmentation import paired_difference


def test_mean_interval_and_wilcoxon_of_the_per_image_differences():
    images = [f"img{i:05d}" for i in range(12)]
    baseline = pd.Series(np.linspace(0.7, 0.9, 12), index=images)
    gain = np.random.default_rng(0).normal(0.02, 0.01, 12)
    method = (baseline + gain)[::-1]  # another order: paired by image id, not by position
    result = paired_difference(method, baseline)
    assert result.mean == pytest.approx(gain.mean())
    half = stats.t.ppf(0.975, 11) * gain.std(ddof=1) / math.sqrt(12)
    assert (result.ci_low, result.ci_high) == pytest.approx((gain.mean() - half, gain.mean() + half))
    assert result.p_value == pytest.approx(stats.wilcoxon(gain).pvalue)
    assert result.n_images == 12 and result.ci_low > 0


def test_identical_scores_and_too_few_images_have_no_p_value():
    scores = pd.Series([0.8, 0.9], index=["a", "b"])
    assert math.isnan(paired_difference(scores, scores).p_value)
    single = paired_difference(scores[:1], scores)
    assert math.isnan(single.ci_low) and single.n_images == 1


def test_an_image_without_a_baseline_score_is_an_error():
    with pytest.raises(ValueError, match="no baseline score"):
        paired_difference(pd.Series([0.8], index=["x"]), pd.Series([0.7], index=["y"]))


# ------------------------------------------------------------------------ a study's Dice table
IMAGES = ["a", "b", "c", "d"]


def per_image(dice_by_seed: dict[int, list[float]], images=IMAGES) -> pd.DataFrame:
    """Rows of one (variant, test set, method) cell: one per (U-Net seed, image)."""
    return pd.DataFrame(
        [{"seed": s, "image": i, "dice": d} for s, scores in dice_by_seed.items()
         for i, d in zip(images, scores, strict=True)]
    )  # fmt: skip


NONE = {0: [0.70, 0.80, 0.60, 0.90], 1: [0.72, 0.78, 0.62, 0.88]}
CLASSIC = {0: [0.75, 0.82, 0.70, 0.91], 1: [0.77, 0.84, 0.66, 0.93]}
CLAHE_CLASSIC = {0: [0.80, 0.85, 0.71, 0.95], 1: [0.78, 0.83, 0.73, 0.95]}


def study_frames() -> dict:
    return {
        ("raw", "in", "none"): per_image(NONE),
        ("raw", "in", "classic"): per_image(CLASSIC),
        ("raw_clahe", "in", "classic"): per_image(CLAHE_CLASSIC),
        ("raw", "ext", "none"): per_image({0: [0.5, 0.6], 1: [0.55, 0.65]}, images=["x", "y"]),
    }


def test_the_study_table_has_dice_over_seeds_and_a_known_paired_difference():
    from cxr_synth.segmentation import study_dice_table

    table = study_dice_table(study_frames(), baseline="raw")
    assert list(zip(table["variant"], table["test_set"], table["method"], strict=True)) == [
        ("raw", "in", "none"), ("raw", "in", "classic"), ("raw_clahe", "in", "classic"),
        ("raw", "ext", "none"),
    ]  # fmt: skip
    classic = table.iloc[1]
    per_seed = [np.mean(CLASSIC[0]), np.mean(CLASSIC[1])]
    assert classic["dice_mean"] == pytest.approx(0.7975)
    assert classic["dice_std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert classic["n_seeds"] == 2 and classic["n_images"] == 4
    # per image, averaged over seeds: classic - none = [0.05, 0.04, 0.07, 0.03]
    assert classic["vs_reference_mean"] == pytest.approx(0.0475)
    half = stats.t.ppf(0.975, 3) * np.std([0.05, 0.04, 0.07, 0.03], ddof=1) / 2
    assert classic["vs_reference_ci_low"] == pytest.approx(0.0475 - half)
    assert classic["vs_reference_p"] == pytest.approx(0.125)  # exact Wilcoxon, 4 positive
    # the clahe variant against raw, same method and images: [0.03, 0.01, 0.04, 0.03]
    clahe = table.iloc[2]
    assert clahe["baseline_variant"] == "raw"
    assert clahe["vs_baseline_mean"] == pytest.approx(0.0275)
    assert math.isnan(clahe["vs_reference_mean"])  # the clahe variant has no `none` cell
    assert math.isnan(table.iloc[0]["vs_reference_mean"])  # none vs itself: no row
    assert math.isnan(table.iloc[1]["vs_baseline_mean"])  # raw is the baseline itself


def test_suffix_pairing_and_named_cells_compare_only_the_same_test_images():
    from cxr_synth.segmentation import study_dice_table

    table = study_dice_table(study_frames(), suffix="_clahe", versus=["raw/none"])
    rows = table.set_index(["variant", "test_set", "method"])
    assert rows.loc[("raw_clahe", "in", "classic"), "baseline_variant"] == "raw"
    assert pd.isna(rows.loc[("raw", "in", "classic"), "baseline_variant"])  # no suffix: no base
    assert rows.loc[("raw_clahe", "in", "classic"), "vs_raw/none_mean"] == pytest.approx(0.075)
    assert math.isnan(rows.loc[("raw", "in", "none"), "vs_raw/none_mean"])  # itself
    assert math.isnan(rows.loc[("raw", "ext", "none"), "vs_raw/none_mean"])  # no ext/none cell
    with pytest.raises(ValueError, match="VARIANT/METHOD"):
        study_dice_table(study_frames(), versus=["raw"])


def test_study_seeds_are_replicates_of_their_own_and_the_markdown_shows_the_differences():
    from cxr_synth.segmentation import study_dice_markdown, study_dice_table

    one = per_image({0: NONE[0]}).assign(study_seed=0)
    other = per_image({0: NONE[1]}).assign(study_seed=1)  # the same U-Net seed, another study seed
    frames = {("v", "in", "none"): pd.concat([one, other]),
              ("v", "in", "classic"): per_image(CLASSIC)}  # fmt: skip
    table = study_dice_table(frames)
    assert list(table["n_seeds"]) == [2, 2]
    markdown = study_dice_markdown(table)
    assert "| v | in | classic | 0.7975 ± " in markdown
    assert "Δ vs none [95 % CI], p" in markdown and "+0.0475 [" in markdown
    assert "baseline" not in markdown  # no baseline variant: that column is left out
    with pytest.raises(ValueError, match="no \\['dice'\\] column"):
        study_dice_table({("v", "in", "none"): one.drop(columns="dice")})


# ------------------------------------------------------------------------ one run's methods
def with_iou(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(iou=frame["dice"] / (2 - frame["dice"]))


def test_a_runs_method_table_has_dice_iou_and_the_difference_to_none():
    from cxr_synth.segmentation import method_dice_table

    table = method_dice_table({"none": with_iou(per_image(NONE)),
                               "classic": with_iou(per_image(CLASSIC))})  # fmt: skip
    assert list(table["method"]) == ["none", "classic"]
    classic = table.iloc[1]
    iou = [np.mean([d / (2 - d) for d in CLASSIC[s]]) for s in (0, 1)]
    assert classic["iou_mean"] == pytest.approx(np.mean(iou))
    assert classic["iou_std"] == pytest.approx(np.std(iou, ddof=1))
    assert classic["dice_delta_vs_none"] == pytest.approx(0.0475)
    assert classic["p_value"] == pytest.approx(0.125)
    assert classic["n_images"] == 4 and classic["n_seeds"] == 2
    assert math.isnan(table.iloc[0]["dice_delta_vs_none"])
    alone = method_dice_table({"classic": with_iou(per_image({0: CLASSIC[0]}))})
    assert math.isnan(alone.iloc[0]["dice_std"]) and math.isnan(alone.iloc[0]["p_value"])
