"""Many images decoded into one array without Kedro: order, rejects and their reasons."""

import numpy as np
from PIL import Image

from cxr_synth.data.decoding import decode_images, reject_reason, rejects_frame
from cxr_synth.data.imaging import ResizeSpec

SPEC = ResizeSpec(resolution=32, square="center_crop", resample="lanczos", min_size=16)


def xray(seed, size=(96, 96), mode="L"):
    pixels = np.random.default_rng(seed).integers(0, 256, size[::-1], dtype=np.uint8)
    return Image.fromarray(pixels, mode="L").convert(mode)


def broken():
    raise OSError("cannot identify image file")


def test_decodable_images_fill_the_array_in_order_and_the_others_are_rejects():
    images = [xray(i) for i in range(40)]
    images[2] = xray(2, size=(60, 30), mode="RGBA")  # converted and squared
    loaders = [(lambda image=image: image) for image in images]
    loaders[4] = broken
    loaders[7] = lambda: xray(7, size=(8, 8))  # below min_size
    array, kept, failed = decode_images(loaders, SPEC, workers=2, description="test")
    assert array.shape == (38, 32, 32) and array.dtype == np.uint8
    assert kept == [i for i in range(40) if i not in (4, 7)]
    assert failed == [(4, "unreadable image: OSError: cannot identify image file"),
                      (7, "image 8x8 px is below the minimum size of 16 px "
                          "(preprocessing.min_image_size)")]  # fmt: skip
    expected = images[5].resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=3.0)
    np.testing.assert_array_equal(array[kept.index(5)], np.asarray(expected))


def test_nothing_decodable_gives_an_empty_array():
    array, kept, failed = decode_images([broken], SPEC, workers=1, description="test")
    assert array.shape == (0, 32, 32) and kept == [] and len(failed) == 1


def test_a_reason_is_the_checks_own_message_or_the_decoding_error():
    assert reject_reason("ImageRejected: too small", "unreadable image") == "too small"
    assert reject_reason("OSError: bad", "unreadable pair") == "unreadable pair: OSError: bad"
    assert rejects_frame([]).columns.tolist() == ["item", "stage", "reason"]
