"""The preprocessing nodes through the catalog's PNG loaders; the decoding and the lung-mask
set logic: tests/data/test_decoding.py, tests/data/test_mask_sets.py."""

import numpy as np
import pandas as pd
import pytest
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from cxr_synth.pipelines.preprocessing.nodes import (
    pair_segmentation_files,
    preprocess_external_images,
    preprocess_nih_images,
    preprocess_segmentation,
)
from cxr_synth.pipelines.preprocessing.params import PreprocessingParams

RAW = {
    "resolution": 32,
    "square": "center_crop",
    "resample": "lanczos",
    "min_image_size": 16,
    "workers": 2,
    "segmentation": {"resolution": None, "layout": "montgomery", "mask_suffix": "_mask"},
}
PARAMS = PreprocessingParams.parse(RAW)


def params(**segmentation) -> PreprocessingParams:
    return PreprocessingParams.parse(
        {**RAW, "segmentation": {**RAW["segmentation"], **segmentation}}
    )


def save_pngs(root, images: dict[str, Image.Image]) -> dict:
    """Write PNGs through the same PartitionedDataset the catalog uses; return its lazy loaders."""
    dataset = PartitionedDataset(
        path=str(root), dataset="pillow.ImageDataset", filename_suffix=".png"
    )
    dataset.save(images)
    return dataset.load()


def xray(seed, size=(96, 96), mode="L"):
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
    assert array.shape == (39, 32, 32) and array.dtype == np.uint8
    assert rejects["item"].tolist() == ["images_001/images/00000004_000.png"]
    assert "unreadable image" in rejects["reason"].item()
    assert index["row"].tolist() == list(range(39))
    assert "00000004_000.png" not in set(index["image_index"])
    expected = np.asarray(
        partitions["images_002/images/00000005_000"].resize(
            (32, 32), Image.Resampling.LANCZOS, reducing_gap=3.0
        )
    )
    np.testing.assert_array_equal(
        array[index.index[index["image_index"] == "00000005_000.png"][0]], expected
    )


def test_an_external_folder_keeps_the_included_pngs_at_the_training_resolution(tmp_path):
    partitions = {f"CXR_png/MCUCXR_{i:04d}_0": xray(i) for i in range(6)}
    partitions |= {f"ManualMask/leftMask/MCUCXR_{i:04d}_0": xray(i) for i in range(6)}
    partitions["CXR_png/tiny"] = xray(9, size=(8, 8))
    loaders = save_pngs(tmp_path, partitions)
    external = {**RAW, "external": {"name": "montgomery", "include": "^CXR_png/"}}
    array, summary, rejects = preprocess_external_images(
        loaders, PreprocessingParams.parse(external)
    )
    assert array.shape == (6, 32, 32) and array.dtype == np.uint8
    assert summary == {"name": "montgomery", "n_images": 6, "n_rejected": 1}
    assert rejects["item"].tolist() == ["CXR_png/tiny.png"] and "minimum" in rejects["reason"][0]
    with pytest.raises(ValueError, match=r"preprocessing.external.include '\^nothing/'"):
        preprocess_external_images(
            loaders, PreprocessingParams.parse({**external, "external": {"include": "^nothing/"}})
        )


def test_no_external_folder_gives_an_empty_set():
    array, summary, rejects = preprocess_external_images(None, PARAMS)
    assert array.shape == (0, 32, 32) and summary["n_images"] == 0 and rejects.empty


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


def lung_masks(size=96):
    left, right = np.zeros((size, size), np.uint8), np.zeros((size, size), np.uint8)
    left[16:80, 12:40], right[16:80, 56:84] = 255, 255
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
    pairs, pair_rejects = pair_segmentation_files(loaders, PARAMS)
    assert pairs["stem"].tolist() == ["MCUCXR_0001_0", "MCUCXR_0002_1"]
    assert pairs["patient_id"].tolist() == ["MCUCXR_0001", "MCUCXR_0002"]
    assert "mask not found" in pair_rejects["reason"].item()
    images, masks, index, rejects = preprocess_segmentation(pairs, loaders, pair_rejects, PARAMS)
    assert images.shape == masks.shape == (2, 32, 32)
    assert set(np.unique(masks)) == {0, 1}
    assert masks[0, 16, 8] == 1 and masks[0, 16, 24] == 1 and masks[0, 16, 16] == 0
    assert len(rejects) == 1 and index["stem"].tolist() == ["MCUCXR_0001_0", "MCUCXR_0002_1"]

    own_size = params(resolution=64)
    large, large_masks, _, _ = preprocess_segmentation(pairs, loaders, pair_rejects, own_size)
    assert large.shape == large_masks.shape == (2, 64, 64)  # segmentation.resolution wins


def test_the_segmentation_nodes_read_the_layout_and_lung_labels(tmp_path):
    labels = np.full((96, 96), 3, np.uint8)  # background 3, lungs 1 and 2
    labels[16:80, 12:40], labels[16:80, 56:84] = 1, 2
    loaders = save_pngs(tmp_path, {"images/a_0": xray(0), "masks/a_0_mask": Image.fromarray(labels)})
    with pytest.raises(ValueError, match="preprocessing.segmentation.layout"):
        pair_segmentation_files(loaders, PARAMS)  # montgomery
    labelled = params(layout="paired", lung_labels=[1, 2])
    pairs, pair_rejects = pair_segmentation_files(loaders, labelled)
    assert pairs["masks"].tolist() == ["masks/a_0_mask"]
    _, masks, _, rejects = preprocess_segmentation(pairs, loaders, pair_rejects, labelled)
    assert rejects.empty and 0.3 < masks.mean() < 0.5


def test_an_image_below_the_minimum_size_is_a_counted_reject(tmp_path):
    partitions = {
        "images_001/images/00000001_000": xray(0),
        "images_001/images/00000002_000": xray(1, size=(1, 1)),
    }
    loaders = save_pngs(tmp_path, partitions)
    manifest = pd.DataFrame({"partition": list(partitions)})
    array, _, rejects = preprocess_nih_images(manifest, loaders, PARAMS)
    assert len(array) == 1
    assert "image 1x1 px is below the minimum size of 16 px" in rejects["reason"].item()
