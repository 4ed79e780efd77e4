import numpy as np
import pytest
import torch

from cxr_synth.data.torch_data import ChestXrayDataset, build_augmentation


def test_scales_uint8_to_minus_one_one():
    images = np.array([[[0, 255], [127, 128]]], dtype=np.uint8)
    item = ChestXrayDataset(images)[0]
    assert item.shape == (1, 2, 2) and item.dtype == torch.float32
    assert item.min() == -1.0 and item.max() == 1.0


def test_masks_become_a_second_channel_transformed_with_the_image():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 16, 16), dtype=np.uint8)
    masks = (images > 128).astype(np.uint8)
    dataset = ChestXrayDataset(images, masks, augmentation=build_augmentation(horizontal_flip=True))
    torch.manual_seed(0)
    for index in range(len(dataset)):
        item = dataset[index]
        assert item.shape == (2, 16, 16)
        # the mask channel still marks exactly the bright pixels after a (possible) flip
        assert torch.equal(item[1] > 0, item[0] > (128.5 / 127.5 - 1.0))


def test_rows_select_a_subset_without_copying():
    images = np.stack([np.full((8, 8), i, dtype=np.uint8) for i in range(5)])
    dataset = ChestXrayDataset(images, rows=np.array([4, 1]))
    assert len(dataset) == 2
    assert dataset[0][0, 0, 0] == pytest.approx(4 / 127.5 - 1.0)


def test_rotation_fills_corners_with_black():
    images = np.full((1, 32, 32), 255, dtype=np.uint8)
    torch.manual_seed(0)
    item = ChestXrayDataset(images, augmentation=build_augmentation(rotation_degrees=(30, 30)))[0]
    assert item[0, 0, 0] == pytest.approx(-1.0)
    assert item[0, 16, 16] == pytest.approx(1.0)


def test_no_augmentation_when_all_switches_are_off():
    assert build_augmentation() is None


def test_rejects_wrong_dtype():
    with pytest.raises(ValueError, match="uint8"):
        ChestXrayDataset(np.zeros((1, 4, 4), dtype=np.float32))
