import numpy as np
import pytest
import torch

from cxr_synth.segmentation.data import (
    SegmentationDataset,
    build_classic_augmentation,
    deform_masks,
)


def _rectangle(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """An image whose bright pixels are exactly the (off-centre, asymmetric) mask."""
    masks = np.zeros((1, size, size), dtype=np.uint8)
    masks[0, 6:22, 4:14] = 1
    return (masks * 200 + 20).astype(np.uint8), masks


def test_scales_image_to_minus_one_one_and_mask_to_zero_one():
    images = np.array([[[0, 255], [127, 128]]], dtype=np.uint8)
    masks = np.array([[[0, 255], [0, 255]]], dtype=np.uint8)  # 0/255 masks are accepted
    image, mask = SegmentationDataset(images, masks)[0]
    assert image.shape == mask.shape == (1, 2, 2)
    assert image.dtype == mask.dtype == torch.float32
    assert image.min() == -1.0 and image.max() == 1.0
    assert mask.tolist() == [[[0.0, 1.0], [0.0, 1.0]]]


def test_rows_select_a_subset():
    images = np.stack([np.full((4, 4), i, dtype=np.uint8) for i in range(5)])
    dataset = SegmentationDataset(images, np.zeros_like(images), rows=np.array([3, 0]))
    assert len(dataset) == 2
    assert dataset[0][0][0, 0, 0] == pytest.approx(3 / 127.5 - 1.0)


def test_mask_stays_binary_and_aligned_after_rotation_and_scale():
    images, masks = _rectangle()
    augmentation = build_classic_augmentation(
        rotation_degrees=30, scale=(0.8, 1.2), brightness=0.2, contrast=0.2
    )
    dataset = SegmentationDataset(images, masks, augmentation=augmentation)
    torch.manual_seed(0)
    moved = 0
    for _ in range(10):
        image, mask = dataset[0]
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        bright = image > (120 / 127.5 - 1.0)  # halfway between background and foreground
        agreement = (bright == (mask > 0)).float().mean()
        assert agreement > 0.97  # only resampled edge pixels may differ
        moved += not np.array_equal(mask[0].numpy(), masks[0])
    assert moved == 10  # the augmentation did move the mask


def test_brightness_and_contrast_change_the_image_only():
    images, masks = _rectangle()
    augmentation = build_classic_augmentation(rotation_degrees=0, scale=None, brightness=0.5)
    torch.manual_seed(0)
    image, mask = SegmentationDataset(images, masks, augmentation=augmentation)[0]
    assert not torch.allclose(image, SegmentationDataset(images, masks)[0][0])
    assert np.array_equal(mask[0].numpy(), masks[0])


def test_no_horizontal_flip_unless_enabled():
    images, masks = _rectangle()
    flipped = masks[0, :, ::-1]
    augmentation = build_classic_augmentation(
        rotation_degrees=0, scale=None, brightness=0, contrast=0, horizontal_flip=True
    )
    torch.manual_seed(0)
    seen = {
        np.array_equal(
            SegmentationDataset(images, masks, augmentation=augmentation)[0][1][0], flipped
        )
        for _ in range(20)
    }
    assert seen == {True, False}
    no_flip = SegmentationDataset(images, masks, augmentation=build_classic_augmentation())
    for _ in range(20):
        mask = no_flip[0][1][0].numpy()
        assert mask[:, :16].sum() > mask[:, 16:].sum()  # the rectangle stays on the left


def test_no_augmentation_when_everything_is_off():
    assert build_classic_augmentation(0, None, 0, 0) is None
    assert build_classic_augmentation(0, (1.0, 1.0), 0, 0) is None


@pytest.mark.parametrize(
    ("images", "masks", "match"),
    [
        (np.zeros((1, 4, 4), np.float32), np.zeros((1, 4, 4), np.uint8), "uint8"),
        (np.zeros((1, 4, 4), np.uint8), np.zeros((1, 4, 5), np.uint8), "must match"),
        (np.zeros((1, 4, 4), np.uint8), np.zeros((1, 4, 4), np.float32), "masks must be"),
    ],
)
def test_rejects_bad_arrays(images, masks, match):
    with pytest.raises(ValueError, match=match):
        SegmentationDataset(images, masks)


def test_elastic_deformation_moves_the_mask_with_the_image():
    images, masks = _rectangle()
    augmentation = build_classic_augmentation(
        0, None, 0, 0, elastic_alpha=80.0, elastic_sigma=4.0
    )
    dataset = SegmentationDataset(images, masks, augmentation=augmentation)
    torch.manual_seed(0)
    image, mask = dataset[0]
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert not np.array_equal(mask[0].numpy(), masks[0])  # the field did move the mask
    bright = image > (120 / 127.5 - 1.0)
    assert (bright == (mask > 0)).float().mean() > 0.97  # and the image the same way


@pytest.mark.parametrize(
    ("step", "options"),
    [("gamma", {"gamma": (0.5, 0.6)}), ("blur", {"blur_sigma": (1.0, 2.0)})],
)
def test_gamma_and_blur_change_the_image_only(step, options):
    images, masks = _rectangle()
    augmentation = build_classic_augmentation(0, None, 0, 0, **options)
    torch.manual_seed(0)
    image, mask = SegmentationDataset(images, masks, augmentation=augmentation)[0]
    plain = SegmentationDataset(images, masks)[0][0]
    assert np.array_equal(mask[0].numpy(), masks[0]), step
    if step == "gamma":  # gamma < 1 brightens: every non-black, non-white pixel gets brighter
        assert (image > plain).any() and (image >= plain).all()
    else:  # blur softens the edge: values between background and foreground appear
        assert len(image.unique()) > len(plain.unique())


def test_translation_shifts_image_and_mask_together():
    images, masks = _rectangle()
    augmentation = build_classic_augmentation(0, None, 0, 0, translate=0.2)
    torch.manual_seed(1)
    image, mask = SegmentationDataset(images, masks, augmentation=augmentation)[0]
    assert not np.array_equal(mask[0].numpy(), masks[0])
    assert mask.sum() > 0 and (((image > 0) == (mask > 0)).float().mean() == 1.0)


def _disc_masks(n: int = 3, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.stack([((yy - 16) ** 2 + (xx - 8 - 6 * i) ** 2 <= 36) for i in range(n)]).astype(
        np.uint8
    )


def test_deformed_masks_stay_binary_are_seeded_and_new():
    masks = _disc_masks() * 255  # foreground > 0, whatever its value
    moved = deform_masks(masks, 7, seed=0, rotation_degrees=20, translate=0.1, elastic_alpha=30)
    assert moved.shape == (7, 32, 32) and moved.dtype == np.uint8
    assert set(np.unique(moved)) == {0, 1}  # nearest neighbour: still a mask
    np.testing.assert_array_equal(moved, deform_masks(masks, 7, seed=0, rotation_degrees=20,
                                                      translate=0.1, elastic_alpha=30))  # fmt: skip
    assert not np.array_equal(moved, deform_masks(masks, 7, seed=1, rotation_degrees=20,
                                                  translate=0.1, elastic_alpha=30))  # fmt: skip
    source = (masks[np.arange(7) % 3] > 0).astype(np.uint8)  # mask i % 3, moved
    assert all(not np.array_equal(m, s) for m, s in zip(moved, source, strict=True))
    areas = moved.reshape(7, -1).sum(1) / source.reshape(7, -1).sum(1)
    assert ((areas > 0.6) & (areas < 1.6)).all()  # moved, not destroyed


def test_without_deformation_the_masks_come_back_in_turn():
    masks = _disc_masks()
    same = deform_masks(masks, 5, seed=0, rotation_degrees=0, scale=None)
    np.testing.assert_array_equal(same, masks[[0, 1, 2, 0, 1]])
    with pytest.raises(ValueError, match="no masks to deform"):
        deform_masks(masks[:0], 2, seed=0)
    assert deform_masks(masks, 0, seed=0).shape == (0, 32, 32)
