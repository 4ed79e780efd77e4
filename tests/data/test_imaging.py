import numpy as np
import pytest
from PIL import Image

from cxr_synth.data.imaging import (
    ResizeSpec,
    make_square,
    parallel_map,
    prepare_image,
    prepare_mask,
    to_grayscale,
)


def gradient(width=64, height=64):
    return np.tile(np.linspace(0, 255, width, dtype=np.float32), (height, 1))


def test_8bit_gray_resizes_to_uint8_square():
    image = Image.fromarray(gradient().astype(np.uint8), mode="L")
    out = prepare_image(image, ResizeSpec(resolution=16))
    assert out.shape == (16, 16) and out.dtype == np.uint8
    assert out[:, 0].mean() < 20 and out[:, -1].mean() > 235


def test_16bit_png_keeps_precision_and_uses_its_own_range(tmp_path):
    values = (gradient() / 255 * 4095).astype(np.uint16)  # 12-bit data in a 16-bit PNG
    Image.fromarray(values).save(tmp_path / "x.png")
    image = Image.open(tmp_path / "x.png")
    assert image.mode in ("I;16", "I")
    min_max = prepare_image(image, ResizeSpec(resolution=16))
    full = prepare_image(image, ResizeSpec(resolution=16, high_bit_scaling="full_range"))
    assert min_max.max() >= 245 and min_max.min() <= 10
    assert full.max() <= 16  # 4095 / 65535 * 255


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "LA"])
def test_color_modes_become_gray(mode):
    gray = Image.fromarray(gradient().astype(np.uint8), mode="L")
    image = gray.convert(mode)
    assert to_grayscale(image).mode == "L"
    np.testing.assert_allclose(
        prepare_image(image, ResizeSpec(resolution=8)),
        prepare_image(gray, ResizeSpec(resolution=8)),
        atol=2,
    )


def test_non_square_center_crop_pad_and_stretch():
    image = Image.fromarray(np.full((40, 80), 200, dtype=np.uint8), mode="L")
    assert make_square(image, "center_crop").size == (40, 40)
    padded = make_square(image, "pad")
    assert padded.size == (80, 80)
    assert np.asarray(padded)[0, 0] == 0 and np.asarray(padded)[40, 40] == 200
    assert make_square(image, "stretch").size == (80, 40)
    assert prepare_image(image, ResizeSpec(resolution=10, square="stretch")).shape == (10, 10)


def test_mask_union_threshold_and_labels():
    left = np.zeros((32, 32), np.uint8)
    right = np.zeros((32, 32), np.uint8)
    left[:, :8] = 255
    right[:, 24:] = 1
    mask = prepare_mask(
        [Image.fromarray(left), Image.fromarray(right)], ResizeSpec(resolution=8), None
    )
    assert set(np.unique(mask)) == {0, 1}
    assert mask[:, :2].all() and mask[:, 6:].all() and not mask[:, 2:6].any()
    labelled = np.where(left > 0, 3, np.where(right > 0, 4, 0)).astype(np.uint8)
    only_left = prepare_mask([Image.fromarray(labelled)], ResizeSpec(resolution=8), [3])
    assert only_left[:, :2].all() and not only_left[:, 6:].any()


def test_invalid_spec_is_explained():
    with pytest.raises(ValueError, match="square must be one of"):
        ResizeSpec(square="zoom")


def _square(value):
    if value == 3:
        raise ValueError("bad item")
    return value * value


def test_parallel_map_returns_in_order_and_reports_errors():
    results = list(parallel_map(_square, [(i,) for i in range(64)], workers=2))
    assert [index for index, _, _ in results] == list(range(64))
    assert results[5][1] == 25
    assert results[3][1] is None and "bad item" in results[3][2]
