"""Lung-mask sets without Kedro: pairing files by layout, decoding pairs, mask rejects."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxr_synth.data.imaging import ResizeSpec
from cxr_synth.data.mask_sets import decode_pairs, pair_files

SPEC = ResizeSpec(resolution=32, square="center_crop", resample="lanczos", min_size=16)


def layout(**changes) -> SimpleNamespace:
    """The settings the functions read (``preprocessing.segmentation``'s keys)."""
    return SimpleNamespace(**{"layout": "paired", "mask_suffix": "_mask", "lung_labels": None,
                              "patient_pattern": r"^(.*?)(?:_\d)?$",
                              "lung_fraction": (0.05, 0.70), **changes})  # fmt: skip


def xray(seed, size=(96, 96)):
    pixels = np.random.default_rng(seed).integers(0, 256, size[::-1], dtype=np.uint8)
    return Image.fromarray(pixels, mode="L")


def lung_masks(size=96):
    left, right = np.zeros((size, size), np.uint8), np.zeros((size, size), np.uint8)
    left[16:80, 12:40], right[16:80, 56:84] = 255, 255
    return Image.fromarray(left), Image.fromarray(right)


def loaders(images: dict[str, Image.Image]) -> dict:
    """In-memory stand-ins for the catalog's lazy PNG loaders."""
    return {key: (lambda image=image: image) for key, image in images.items()}


def test_montgomery_layout_merges_left_and_right_masks():
    left, right = lung_masks()
    files = {}
    for stem in ("MCUCXR_0001_0", "MCUCXR_0002_1"):
        files |= {f"CXR_png/{stem}": xray(1), f"ManualMask/leftMask/{stem}": left,
                  f"ManualMask/rightMask/{stem}": right}  # fmt: skip
    files["CXR_png/MCUCXR_0003_0"] = xray(3)  # no masks
    files["ManualMask/leftMask/orphan"] = left  # a mask without an image: warned about
    montgomery = layout(layout="montgomery")
    pairs, pair_rejects = pair_files(files, montgomery)
    assert pairs["stem"].tolist() == ["MCUCXR_0001_0", "MCUCXR_0002_1"]
    assert pairs["patient_id"].tolist() == ["MCUCXR_0001", "MCUCXR_0002"]
    assert pair_rejects.values.tolist() == [[
        "CXR_png/MCUCXR_0003_0.png", "pair_segmentation_files",
        "mask not found: ['ManualMask/leftMask/MCUCXR_0003_0.png', "
        "'ManualMask/rightMask/MCUCXR_0003_0.png']",
    ]]  # fmt: skip
    images, masks, index, rejects = decode_pairs(pairs, loaders(files), pair_rejects, SPEC,
                                                 montgomery)  # fmt: skip
    assert images.shape == masks.shape == (2, 32, 32) and set(np.unique(masks)) == {0, 1}
    assert masks[0, 16, 8] == 1 and masks[0, 16, 24] == 1 and masks[0, 16, 16] == 0
    assert rejects.values.tolist() == pair_rejects.values.tolist() and index["row"].tolist() == [0, 1]


def test_paired_layout_with_mask_suffix_and_size_mismatch():
    left, _ = lung_masks()
    files = {
        "images/CHNCXR_0001_0": xray(1), "masks/CHNCXR_0001_0_mask": left,
        "images/CHNCXR_0002_1": xray(2), "masks/CHNCXR_0002_1": left,
        "images/CHNCXR_0003_0": xray(3, size=(40, 40)), "masks/CHNCXR_0003_0_mask": left,
    }  # fmt: skip
    pairs, pair_rejects = pair_files(files, layout())
    assert pairs["masks"].tolist() == [
        "masks/CHNCXR_0001_0_mask", "masks/CHNCXR_0002_1", "masks/CHNCXR_0003_0_mask"
    ]  # fmt: skip
    images, _, index, rejects = decode_pairs(pairs, loaders(files), pair_rejects, SPEC, layout())
    assert len(images) == 2 and index["stem"].tolist() == ["CHNCXR_0001_0", "CHNCXR_0002_1"]
    assert rejects.values.tolist() == [[
        "images/CHNCXR_0003_0.png", "preprocess_segmentation",
        "mask size (96, 96) differs from image size (40, 40)",
    ]]  # fmt: skip


def test_a_layout_matching_no_file_is_an_error_that_names_the_fix():
    with pytest.raises(ValueError, match="No CXR_png/.*preprocessing.segmentation.layout"):
        pair_files({"images/a", "masks/a"}, layout(layout="montgomery"))


@pytest.mark.parametrize(
    ("mask", "reason"),
    [
        (np.random.default_rng(0).integers(0, 256, (96, 96), dtype=np.uint8), "not binary"),
        (np.full((96, 96), 3, np.uint8), "not binary"),  # multi-label, background 3
        (np.full((96, 96), 255, np.uint8), "implausible lung fraction 1.00"),
        (np.zeros((96, 96), np.uint8), "implausible lung fraction 0.00"),
    ],
    ids=["noise", "multi-label", "all-lung", "empty"],
)
def test_implausible_masks_are_counted_rejects_with_the_reason(mask, reason):
    files = {"images/a_0": xray(0), "masks/a_0": Image.fromarray(mask),
             "images/b_0": xray(1), "masks/b_0": lung_masks()[0]}  # fmt: skip
    pairs, pair_rejects = pair_files(files, layout())
    images, _, index, rejects = decode_pairs(pairs, loaders(files), pair_rejects, SPEC, layout())
    assert len(images) == 1 and index["stem"].tolist() == ["b_0"]
    assert rejects["item"].tolist() == ["images/a_0.png"]
    assert reason in rejects["reason"].item() and "unreadable" not in rejects["reason"].item()


def test_multi_label_masks_pass_with_their_lung_labels():
    labels = np.full((96, 96), 3, np.uint8)  # background 3, lungs 1 and 2
    labels[16:80, 12:40], labels[16:80, 56:84] = 1, 2
    files = {"images/a_0": xray(0), "masks/a_0": Image.fromarray(labels)}
    labelled = layout(lung_labels=[1, 2])
    pairs, pair_rejects = pair_files(files, labelled)
    _, masks, _, rejects = decode_pairs(pairs, loaders(files), pair_rejects, SPEC, labelled)
    assert rejects.empty and 0.3 < masks.mean() < 0.5


def test_an_unreadable_pair_is_a_reject_and_no_pair_at_all_an_error():
    def broken():
        raise OSError("cannot identify image file")

    files = {"images/a_0": xray(0), "masks/a_0": lung_masks()[0]}
    pairs, pair_rejects = pair_files(files, layout())
    with pytest.raises(ValueError, match="No segmentation pair could be decoded"):
        decode_pairs(pairs, {**loaders(files), "masks/a_0": broken}, pair_rejects, SPEC, layout())
    both = pd.concat([pairs, pair_files({"images/b_0", "masks/b_0"}, layout())[0]])
    _, _, _, rejects = decode_pairs(both, {**loaders(files), "images/b_0": broken,
                                           "masks/b_0": broken}, pair_rejects, SPEC, layout())  # fmt: skip
    assert rejects["reason"].tolist() == ["unreadable pair: OSError: cannot identify image file"]
