"""DiffAugment transforms: what each one may and may not do, and that gradients pass through."""

import pytest
import torch
import torch.nn.functional as F

from cxr_synth.models.augment import (
    DiffAugment,
    parse_policy,
    rand_brightness,
    rand_contrast,
    rand_cutout,
    rand_translation,
)


def shift_with_zeros(x, dy, dx):
    """Reference: shift by (dy, dx) pixels (down, right), zeros coming in."""
    h, w = x.shape[-2:]
    p = max(abs(dy), abs(dx))
    padded = F.pad(x, (p, p, p, p))
    return padded[..., p - dy : p - dy + h, p - dx : p - dx + w]


@pytest.fixture
def images():
    torch.manual_seed(0)
    return torch.rand(16, 2, 16, 16) * 2 - 1


def test_policy_parsing():
    assert parse_policy("") == parse_policy(None) == parse_policy(False) == ()
    assert parse_policy("color, translation,cutout") == (
        "brightness",
        "contrast",
        "translation",
        "cutout",
    )
    assert parse_policy(["Cutout"]) == ("cutout",)
    with pytest.raises(ValueError, match="valid: .*brightness"):
        parse_policy("translation,rotation")


def test_empty_policy_is_identity(images):
    assert torch.equal(DiffAugment("")(images), images)
    assert not DiffAugment("")


def test_translation_is_a_zero_filled_shift_within_an_eighth(images):
    out = rand_translation(images)  # 16 px * 0.125 = 2 px at most
    shifts = []
    for x, y in zip(images, out, strict=True):
        found = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(shift_with_zeros(x, dy, dx), y)
        ]
        assert found, "output is not a shift of its input by at most 2 px"
        shifts.append(found[0])
    assert len(set(shifts)) > 1  # per-sample shifts


def test_cutout_zeroes_one_square_and_keeps_the_rest(images):
    out = rand_cutout(images)  # side 8 of 16
    for x, y in zip(images, out, strict=True):
        changed = (x != y).any(dim=0)
        assert torch.equal(y[:, ~changed], x[:, ~changed])
        assert (y[:, changed] == 0).all()
        rows, cols = changed.any(dim=1).nonzero(), changed.any(dim=0).nonzero()
        assert 0 < changed.sum() <= 64
        assert rows.numel() <= 8 and cols.numel() <= 8  # a square, possibly clipped by the border
        assert changed.sum() == rows.numel() * cols.numel()


def test_brightness_adds_one_offset_per_sample(images):
    out = rand_brightness(images)
    offset = (out - images).flatten(1)
    assert torch.allclose(offset, offset[:, :1].expand_as(offset), atol=1e-6)
    assert (offset[:, 0].abs() <= 0.5).all() and offset[:, 0].std() > 0


def test_contrast_scales_about_the_mean(images):
    out = rand_contrast(images)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3), keepdim=True), mean)
    factor = ((out - mean).flatten(1) / (images - mean).flatten(1)).median(dim=1).values
    assert ((factor >= 0.5) & (factor <= 1.5)).all() and factor.std() > 0


def test_policy_is_differentiable(images):
    x = images.clone().requires_grad_(True)
    DiffAugment("color,translation,cutout")(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_augment_runs_under_autocast(images):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = DiffAugment("color,translation,cutout")(images.bfloat16())
    assert out.shape == images.shape and out.dtype == torch.bfloat16
