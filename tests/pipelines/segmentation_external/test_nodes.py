"""segmentation_external nodes: the external set preprocessed like the main one, every seed's
saved U-Net scored on it, the cross-dataset table."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from cxr_synth.models.unet import UNet
from cxr_synth.pipelines.preprocessing.params import PreprocessingParams
from cxr_synth.pipelines.segmentation_external.nodes import (
    decode_external_pairs,
    evaluate_external,
    external_preprocessing_params,
    pair_external_files,
    summarise_segmentation_external,
)
from cxr_synth.pipelines.segmentation_external.params import ExternalSetParams
from cxr_synth.runtime.schema import ParameterError
from cxr_synth.segmentation import (
    SegmentationConfig,
    evaluate_unet,
    normalise_intensity,
    unet_spec,
)

MAIN = PreprocessingParams.parse(
    {"resolution": 64, "resample": "bilinear", "min_image_size": 16, "workers": 1,
     "segmentation": {"resolution": 64, "layout": "montgomery"}}
)  # fmt: skip
SMALL = PreprocessingParams.parse(
    {"resolution": 64, "resample": "bilinear", "min_image_size": 16, "workers": 1,
     "segmentation": {"resolution": 32, "layout": "montgomery"}}
)  # fmt: skip
EXTERNAL = ExternalSetParams.parse(
    {"name": "other_hospital", "files": {"layout": "paired", "mask_suffix": "_mask"},
     "device": "cpu", "batch_size": 4}
)  # fmt: skip


def _spec(resolution=32, seeds=(0, 1), method="none"):
    config = SegmentationConfig(base_width=4, depth=2)
    return unet_spec(config, resolution, seeds, method=method)


def test_external_preprocessing_keeps_the_main_settings_and_segmentation_resolution():
    merged = external_preprocessing_params(MAIN, EXTERNAL)
    assert merged.segmentation.resolution == 64  # the main set's segmentation resolution
    assert (merged.segmentation.layout, merged.segmentation.mask_suffix) == ("paired", "_mask")
    assert (merged.resample, merged.resolution, merged.min_image_size) == ("bilinear", 64, 16)
    assert MAIN.segmentation.layout == "montgomery"  # the main section is untouched
    follows = MAIN.segmentation.model_copy(update={"resolution": None})  # null: the images'
    unset = MAIN.model_copy(update={"resolution": 32, "segmentation": follows})
    assert external_preprocessing_params(unset, EXTERNAL).segmentation.resolution == 32


def test_external_parameters_refuse_a_resolution_and_unknown_keys():
    with pytest.raises(ParameterError, match="files.*resolution"):
        ExternalSetParams.parse({"name": "x", "files": {"layout": "paired", "resolution": 64}})
    with pytest.raises(ParameterError, match="did you mean 'layout'"):
        ExternalSetParams.parse({"name": "x", "files": {"layuot": "paired"}})
    with pytest.raises(ParameterError, match="device"):
        ExternalSetParams.parse({"name": "x", "device": "tpu"})


def _disc(size, cy, cx, r):
    yy, xx = np.mgrid[:size, :size]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r**2).astype(np.uint8)


def _external_folder(tmp_path, n=4, size=96):
    """A paired-layout set with the `_mask` suffix: bright discs on noise, masks 0/255."""
    rng = np.random.default_rng(0)
    files = {}
    for i in range(n):
        mask = _disc(size, 48, 30 + 10 * i, 20)
        image = np.clip(40 + 150 * mask + rng.normal(0, 10, mask.shape), 0, 255).astype(np.uint8)
        files[f"images/CHNCXR_{i:04d}_0"] = Image.fromarray(image)
        files[f"masks/CHNCXR_{i:04d}_0_mask"] = Image.fromarray(mask * 255)
    dataset = PartitionedDataset(path=str(tmp_path), dataset="pillow.ImageDataset",
                                 filename_suffix=".png")  # fmt: skip
    dataset.save(files)
    return dataset.load()


def test_the_external_set_is_read_with_the_preprocessing_library_functions(tmp_path):
    loaders = _external_folder(tmp_path)
    merged = external_preprocessing_params(SMALL, EXTERNAL)
    pairs, pair_rejects = pair_external_files(loaders, merged)
    assert len(pairs) == 4 and pair_rejects.empty
    images, masks, index, rejects = decode_external_pairs(pairs, loaders, pair_rejects, merged)
    assert images.shape == masks.shape == (4, 32, 32) and set(np.unique(masks)) == {0, 1}
    assert index["row"].tolist() == [0, 1, 2, 3] and rejects.empty
    montgomery = external_preprocessing_params(SMALL, ExternalSetParams.parse({"name": "m"}))
    with pytest.raises(ValueError, match="seg_external_raw.*segmentation_external.files.layout"):
        pair_external_files(loaders, montgomery)  # wrong layout: names the external entries


def _weights(seeds=(0, 1)):
    states = {}
    for seed in seeds:
        torch.manual_seed(seed)
        states[seed] = UNet(1, 1, 4, 2).state_dict()
    return states


def test_every_seed_is_scored_on_every_external_image_under_a_pseudonym():
    masks = np.stack([_disc(32, 16, 10 + 3 * i, 8) for i in range(5)])
    images = (40 + 150 * masks).astype(np.uint8)
    index = pd.DataFrame({"row": range(5), "stem": [f"MCUCXR_{i:04d}_0" for i in range(5)]})
    weights = _weights()
    runs = evaluate_external(weights, _spec(32), images, masks, index, EXTERNAL, method="none")
    assert len(runs) == 10 and sorted(set(runs["seed"])) == [0, 1]
    assert set(runs["image"]) == {f"img{i:05d}" for i in range(5)}
    assert not set(runs["image"]) & set(index["stem"])
    assert (runs["dataset"] == "other_hospital").all() and (runs["method"] == "none").all()
    for seed in (0, 1):  # the scores are those of the saved networks themselves
        model = UNet(1, 1, 4, 2)
        model.load_state_dict(weights[seed])
        expected = evaluate_unet(model, images, masks, device="cpu")["dice"]
        np.testing.assert_allclose(runs.loc[runs["seed"] == seed, "dice"], expected)
    with pytest.raises(ValueError, match="trained at 64 px.*32 px"):
        evaluate_external(weights, _spec(64), images, masks, index, EXTERNAL, method="none")


def test_the_external_images_get_the_intensity_normalisation_the_unets_were_trained_with():
    masks = np.stack([_disc(32, 16, 10 + 3 * i, 8) for i in range(4)])
    images = (60 + 40 * masks).astype(np.uint8)
    index = pd.DataFrame({"row": range(4)})
    weights = _weights()
    config = SegmentationConfig(base_width=4, depth=2, intensity="histeq")
    spec = unet_spec(config, 32, (0, 1), method="none")
    assert spec["intensity"] == "histeq"
    runs = evaluate_external(weights, spec, images, masks, index, EXTERNAL, method="none")
    model = UNet(1, 1, 4, 2)
    model.load_state_dict(weights[0])
    normalised = normalise_intensity(images, "histeq")
    expected = evaluate_unet(model, normalised, masks, device="cpu")["dice"]
    np.testing.assert_allclose(runs.loc[runs["seed"] == 0, "dice"], expected)


def test_summary_is_mean_and_std_over_seeds_with_mlflow_metrics():
    def runs(method, by_seed):
        return pd.DataFrame(
            [{"method": method, "seed": s, "dataset": "x", "image": f"img{i:05d}", "dice": d,
              "iou": d / (2 - d)} for s, values in by_seed.items() for i, d in enumerate(values)]
        )  # fmt: skip

    none = runs("none", {0: [0.8, 0.6, 0.7], 1: [0.9, 0.9, 0.6], 2: [0.5, 0.7, 0.6]})
    classic = runs("classic", {0: [0.9, 0.8, 0.7]})
    table, markdown, metrics = summarise_segmentation_external(EXTERNAL, none=none, classic=classic)
    row = table.set_index("method").loc["none"]
    per_seed = [0.7, 0.8, 0.6]
    assert row["dice_mean"] == pytest.approx(np.mean(per_seed))
    assert row["dice_std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert (row["n_seeds"], row["n_images"], row["dataset"]) == (3, 3, "other_hospital")
    assert math.isnan(table.set_index("method").loc["classic", "dice_std"])  # one seed
    assert list(table.columns) == ["method", "n_seeds", "dice_mean", "dice_std", "iou_mean",
                                   "iou_std", "dice_delta_vs_none", "dice_delta_ci_low",
                                   "dice_delta_ci_high", "p_value", "n_images", "dataset"]  # fmt: skip
    versus = table.set_index("method").loc["classic"]  # per image: classic - mean over none's seeds
    assert versus["dice_delta_vs_none"] == pytest.approx(np.mean([0.9 - 2.2 / 3, 0.8 - 2.2 / 3,
                                                                   0.7 - 1.9 / 3]))  # fmt: skip
    assert versus["dice_delta_ci_low"] < versus["dice_delta_vs_none"] < versus["dice_delta_ci_high"]
    assert math.isnan(table.set_index("method").loc["none", "dice_delta_vs_none"])
    assert metrics["none.dice"]["value"] == pytest.approx(np.mean(per_seed))
    assert set(metrics) == {"none.dice", "none.iou", "classic.dice", "classic.iou",
                            "classic.dice_delta"}  # fmt: skip
    assert "other_hospital" in markdown and "| none | 0.7000 ± 0.1000" in markdown
