import numpy as np
import pandas as pd
import pytest
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from cxr_synth.pipelines.preprocessing.nodes import (
    pair_segmentation_files,
    preprocess_nih_images,
    preprocess_segmentation,
)

PARAMS = {
    "resolution": 16,
    "square": "center_crop",
    "resample": "lanczos",
    "workers": 2,
    "segmentation": {"layout": "montgomery", "mask_suffix": "_mask", "lung_labels": None},
}


def save_pngs(root, images: dict[str, Image.Image]) -> dict:
    """Write PNGs through the same PartitionedDataset the catalog uses; return its lazy loaders."""
    dataset = PartitionedDataset(
        path=str(root), dataset="pillow.ImageDataset", filename_suffix=".png"
    )
    dataset.save(images)
    return dataset.load()


def xray(seed, size=(48, 48), mode="L"):
    pixels = np.random.default_rng(seed).integers(0, 256, size[::-1], dtype=np.uint8)
    return Image.fromarray(pixels, mode="L").convert(mode)


def test_nih_images_decode_in_parallel_and_unreadable_files_are_rejects(tmp_path):
    partitions = {f"images_00{1 + i % 2}/images/{i:08d}_000": xray(i) for i in range(40)}
    partitions["images_001/images/00000002_000"] = xray(2, size=(60, 30), mode="RGBA")
    loaders = save_pngs(tmp_path, partitions)
    (tmp_path / "images_001/images/00000004_000.png").write_bytes(b"not a png")
    manifest = pd.DataFrame(
        {
            "image_index": [f"{k.rsplit('/', 1)[1]}.png" for k in partitions],
            "partition": list(partitions),
        }
    )
    array, index, rejects = preprocess_nih_images(manifest, loaders, PARAMS)
    assert array.shape == (39, 16, 16) and array.dtype == np.uint8
    assert rejects["item"].tolist() == ["images_001/images/00000004_000.png"]
    assert "unreadable image" in rejects["reason"].item()
    assert index["row"].tolist() == list(range(39))
    assert "00000004_000.png" not in set(index["image_index"])
    expected = np.asarray(
        partitions["images_002/images/00000005_000"].resize(
            (16, 16), Image.Resampling.LANCZOS, reducing_gap=3.0
        )
    )
    np.testing.assert_array_equal(
        array[index.index[index["image_index"] == "00000005_000.png"][0]], expected
    )


def test_all_images_unreadable_is_an_error(tmp_path):
    (tmp_path / "images_001/images").mkdir(parents=True)
    (tmp_path / "images_001/images/00000001_000.png").write_bytes(b"")
    loaders = PartitionedDataset(
        path=str(tmp_path), dataset="pillow.ImageDataset", filename_suffix=".png"
    ).load()
    manifest = pd.DataFrame(
        {"image_index": ["00000001_000.png"], "partition": ["images_001/images/00000001_000"]}
    )
    with pytest.raises(ValueError, match="nih_decode_rejects"):
        preprocess_nih_images(manifest, loaders, PARAMS)


def lung_masks(size=48):
    left, right = np.zeros((size, size), np.uint8), np.zeros((size, size), np.uint8)
    left[8:40, 6:20], right[8:40, 28:42] = 255, 255
    return Image.fromarray(left), Image.fromarray(right)


def test_montgomery_layout_merges_left_and_right_masks(tmp_path):
    left, right = lung_masks()
    files = {}
    for stem in ("MCUCXR_0001_0", "MCUCXR_0002_1"):
        files.update(
            {
                f"CXR_png/{stem}": xray(1),
                f"ManualMask/leftMask/{stem}": left,
                f"ManualMask/rightMask/{stem}": right,
            }
        )
    files["CXR_png/MCUCXR_0003_0"] = xray(3)  # no masks
    loaders = save_pngs(tmp_path, files)
    pairs, pair_rejects = pair_segmentation_files(loaders, PARAMS["segmentation"])
    assert pairs["stem"].tolist() == ["MCUCXR_0001_0", "MCUCXR_0002_1"]
    assert pairs["patient_id"].tolist() == ["MCUCXR_0001", "MCUCXR_0002"]
    assert "mask not found" in pair_rejects["reason"].item()
    images, masks, index, rejects = preprocess_segmentation(pairs, loaders, pair_rejects, PARAMS)
    assert images.shape == masks.shape == (2, 16, 16)
    assert set(np.unique(masks)) == {0, 1}
    assert masks[0, 8, 4] == 1 and masks[0, 8, 12] == 1 and masks[0, 8, 8] == 0
    assert len(rejects) == 1 and index["stem"].tolist() == ["MCUCXR_0001_0", "MCUCXR_0002_1"]

    own_size = {**PARAMS, "segmentation": {**PARAMS["segmentation"], "resolution": 8}}
    small, small_masks, _, _ = preprocess_segmentation(pairs, loaders, pair_rejects, own_size)
    assert small.shape == small_masks.shape == (2, 8, 8)  # segmentation.resolution wins


def test_paired_layout_with_mask_suffix_and_size_mismatch(tmp_path):
    left, _ = lung_masks()
    files = {
        "images/CHNCXR_0001_0": xray(1),
        "masks/CHNCXR_0001_0_mask": left,
        "images/CHNCXR_0002_1": xray(2),
        "masks/CHNCXR_0002_1": left,
        "images/CHNCXR_0003_0": xray(3, size=(40, 40)),
        "masks/CHNCXR_0003_0_mask": left,
    }
    loaders = save_pngs(tmp_path, files)
    params = {**PARAMS["segmentation"], "layout": "paired"}
    pairs, pair_rejects = pair_segmentation_files(loaders, params)
    assert pairs["masks"].tolist() == [
        "masks/CHNCXR_0001_0_mask",
        "masks/CHNCXR_0002_1",
        "masks/CHNCXR_0003_0_mask",
    ]
    images, masks, index, rejects = preprocess_segmentation(pairs, loaders, pair_rejects, PARAMS)
    assert len(images) == 2
    assert rejects["item"].tolist() == ["images/CHNCXR_0003_0.png"]
    assert "differs from image size" in rejects["reason"].item()


def test_wrong_layout_is_an_error_that_names_the_fix(tmp_path):
    loaders = save_pngs(tmp_path, {"images/a": xray(0), "masks/a": xray(1)})
    with pytest.raises(ValueError, match="preprocessing.segmentation.layout"):
        pair_segmentation_files(loaders, PARAMS["segmentation"])
