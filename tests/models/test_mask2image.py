"""mask2image (pix2pix from a lung mask): shapes, the mask is used, dropout noise, the loss."""

import numpy as np
import pytest
import torch

from cxr_synth.models import ARCHITECTURES, build_gan
from cxr_synth.models.base import is_conditional
from cxr_synth.models.mask2image import (
    Mask2ImageGenerator,
    PatchDiscriminator,
    Pix2PixLoss,
    masks_to_condition,
)
from cxr_synth.models.registry import CONDITIONAL_ARCHITECTURES

TINY = {"g_width": 4, "d_width": 4, "max_width": 16, "g_depth": 3, "d_layers": 2}


def discs(n: int = 4, size: int = 32, radius: float = 8.0) -> torch.Tensor:
    """``n`` masks (n, 1, size, size) in {-1, 1}: a disc at a different place in each."""
    yy, xx = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    centres = torch.linspace(10, size - 10, n)
    inside = [((yy - c) ** 2 + (xx - size / 2) ** 2) <= radius**2 for c in centres]
    return torch.stack(inside).float().unsqueeze(1) * 2 - 1


def test_mask2image_is_a_conditional_architecture_beside_the_zoo():
    assert CONDITIONAL_ARCHITECTURES == ("mask2image",) and "mask2image" not in ARCHITECTURES
    gan = build_gan("mask2image", resolution=32, channels=2, seed=0, **TINY)
    assert is_conditional(gan.objective) and gan.latent_dim == 32 * 32
    assert gan.options["l1_lambda"] == 100.0 and gan.options["dropout"] == 0.5  # pix2pix's
    assert gan.g_optimizer == {"lr": 2e-4, "betas": (0.5, 0.999)}


@pytest.mark.parametrize("depth", [1, 3, 5])
def test_generator_returns_the_image_and_its_own_mask(depth):
    g = Mask2ImageGenerator(32, width=4, max_width=8, depth=depth)
    masks = discs()
    out = g(masks)
    assert out.shape == (4, 2, 32, 32) and out[:, :1].abs().max() <= 1
    assert torch.equal(out[:, 1:], masks)  # the pair's mask is the input: correct by construction


def test_discriminator_scores_patches_of_the_pair():
    d = PatchDiscriminator(2, width=4, max_width=16, layers=2)
    assert d(torch.zeros(3, 2, 32, 32)).shape == (3, 36)  # 32 -> 16 -> 8 -> 7 -> 6: 6x6 patches


def test_the_image_depends_on_the_mask_and_on_the_dropout_noise():
    g = build_gan("mask2image", resolution=32, channels=2, seed=0, **TINY).generator.eval()
    masks = discs()

    def render(m: torch.Tensor, seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        with torch.no_grad():
            return g(m)[:, :1]

    same_mask = masks[:1].expand(4, -1, -1, -1)
    by_mask = render(masks, 0)
    assert not torch.allclose(by_mask[0], by_mask[3])
    # dropout stays on when sampling (pix2pix §3.1): the noise is the RNG state
    assert torch.equal(render(masks, 0), render(masks, 0))
    assert not torch.equal(render(masks, 0), render(masks, 1))
    # without dropout a mask always gives the same image: the differences above are the mask's
    plain = build_gan("mask2image", resolution=32, channels=2, seed=0, dropout=0.0, **TINY)
    with torch.no_grad():
        fixed = plain.generator.eval()(same_mask)[:, :1]
        moved = plain.generator(masks)[:, :1]
    assert torch.equal(fixed[0], fixed[3]) and not torch.allclose(moved[0], moved[3])


def test_pix2pix_loss_adds_lambda_times_l1_on_the_image_channel():
    gan = build_gan("mask2image", resolution=32, channels=2, seed=0, l1_lambda=10.0, **TINY)
    loss = gan.objective
    masks = discs(2)
    real = torch.cat([torch.zeros_like(masks), masks], dim=1)
    assert torch.equal(loss.condition(real), masks)
    fake = torch.cat([torch.full_like(masks, 0.5), masks], dim=1)
    total, logs = loss.generator_loss(gan.discriminator, fake, real)
    assert logs["l1"].item() == pytest.approx(0.5)
    assert total.item() == pytest.approx(logs["g_adv"].item() + 10.0 * 0.5)
    d_loss, d_logs = loss.discriminator_loss(gan.discriminator, real, fake, step=0)
    assert d_loss.ndim == 0 and {"d_real", "d_fake", "d_loss"} <= d_logs.keys()


def test_masks_become_conditions_in_minus_one_one():
    masks = np.array([[[0, 1], [255, 0]]], np.uint8)
    assert masks_to_condition(masks).tolist() == [[[[-1.0, 1.0], [1.0, -1.0]]]]


def test_bad_shapes_and_options_are_refused_by_name():
    with pytest.raises(ValueError, match="channels must be 2"):
        build_gan("mask2image", resolution=32, channels=1, **TINY)
    with pytest.raises(ValueError, match="d_layers=4 halves 32² below 4²: at most 3"):
        build_gan("mask2image", resolution=32, channels=2, **{**TINY, "d_layers": 4})
    with pytest.raises(ValueError, match="g_depth must be in"):
        build_gan("mask2image", resolution=32, channels=2, **{**TINY, "g_depth": 6})
    with pytest.raises(ValueError, match="l1_lambda"):
        Pix2PixLoss(l1_lambda=-1.0)
