"""Shapes, value ranges and the paper-specified structure of every generator and discriminator."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from cxr_synth.models import ARCHITECTURES, build_gan

GANS = tuple(name for name in ARCHITECTURES if name != "ddpm")  # ddpm: test_diffusion.py

TINY = {"g_width": 8, "d_width": 8}


@pytest.mark.parametrize("resolution", [64, 128])
@pytest.mark.parametrize("name", GANS)
def test_shapes_and_ranges(name, resolution):
    torch.manual_seed(0)
    gan = build_gan(name, resolution=resolution, **TINY)
    z = torch.randn(4, gan.latent_dim)
    images = gan.generator(z)
    assert images.shape == (4, 1, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    assert images.std() > 0  # not a constant image
    scores = gan.discriminator(images)
    assert scores.shape == (4,)
    assert torch.isfinite(scores).all()
    gan.generator.eval()
    gan.discriminator.eval()
    assert gan.generator(z[:1]).shape == (1, 1, resolution, resolution)  # batch of one in eval mode
    assert gan.discriminator(images[:1]).shape == (1,)


@pytest.mark.parametrize("name", GANS)
def test_two_channels_image_and_mask(name):
    gan = build_gan(name, resolution=64, channels=2, latent_dim=16, **TINY)
    images = gan.generator(torch.randn(3, 16))
    assert images.shape == (3, 2, 64, 64)
    assert gan.discriminator(images).shape == (3,)


@pytest.mark.parametrize("resolution", [32, 256])
def test_other_resolutions(resolution):
    for name in ("dcgan", "stylegan"):
        gan = build_gan(name, resolution=resolution, g_width=4, d_width=4, max_width=16)
        images = gan.generator(torch.randn(2, gan.latent_dim))
        assert images.shape == (2, 1, resolution, resolution)
        assert gan.discriminator(images).shape == (2,)


def _modules(net, kind):
    return [m for m in net.modules() if isinstance(m, kind)]


def test_dcgan_structure_and_init():
    gan = build_gan("dcgan", resolution=64, g_width=32, d_width=32)
    g, d = gan.generator, gan.discriminator
    assert _modules(g, nn.ReLU) and not _modules(g, nn.LeakyReLU)
    assert len(_modules(g, nn.BatchNorm2d)) == 4  # 4x4, 8, 16, 32; none on the output layer
    assert isinstance(g.net[-1], nn.Tanh)
    convs = _modules(d, nn.Conv2d)
    assert [c.out_channels for c in convs] == [32, 64, 128, 256, 1]  # width at R/2, doubling
    assert not isinstance(d.net[1], nn.BatchNorm2d)  # no BN after the first conv
    assert len(_modules(d, nn.BatchNorm2d)) == 3
    assert all(m.negative_slope == 0.2 for m in _modules(d, nn.LeakyReLU))
    weights = torch.cat([c.weight.detach().flatten() for c in convs])
    assert weights.mean().abs() < 1e-3
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)
    gammas = torch.cat([b.weight.detach() for b in _modules(g, nn.BatchNorm2d)])
    assert gammas.mean().item() == pytest.approx(1.0, abs=0.01)
    assert 0.01 < gammas.std().item() < 0.03


def test_max_width_caps_channels():
    gan = build_gan("dcgan", resolution=128, g_width=64, d_width=64)
    assert max(c.out_channels for c in _modules(gan.discriminator, nn.Conv2d)) == 512
    assert gan.generator.net[0].out_channels == 512


def test_wgan_gp_critic_has_no_batchnorm():
    for d_norm, kind in [("layer", nn.GroupNorm), ("instance", nn.InstanceNorm2d)]:
        critic = build_gan("wgan_gp", resolution=64, d_norm=d_norm, **TINY).discriminator
        assert not _modules(critic, nn.BatchNorm2d)
        assert len(_modules(critic, kind)) == 3
    critic = build_gan("wgan_gp", resolution=64, d_norm="none", **TINY).discriminator
    assert not _modules(critic, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d))


def test_wgan_gp_critic_scores_are_per_sample():
    critic = build_gan("wgan_gp", resolution=32, **TINY).discriminator
    x = torch.randn(4, 1, 32, 32)
    alone = torch.stack([critic(x[i : i + 1])[0] for i in range(4)])
    torch.testing.assert_close(critic(x), alone)


def test_proposed_is_the_papers_model():
    """G: BN + LeakyReLU; D: LeakyReLU + dropout + BN (DCGAN's); BCE; nothing the paper lacks."""
    gan = build_gan("proposed", resolution=64, **TINY)
    assert all(m.negative_slope == 0.2 for m in _modules(gan.generator, nn.LeakyReLU))
    assert not _modules(gan.generator, nn.ReLU)
    assert len(_modules(gan.generator, nn.BatchNorm2d)) == 4
    assert [m.p for m in _modules(gan.discriminator, nn.Dropout)] == [0.3] * 4
    assert len(_modules(gan.discriminator, nn.BatchNorm2d)) == 3  # every conv but the first
    convs = _modules(gan.discriminator, nn.Conv2d)
    assert not any(parametrize.is_parametrized(c, "weight") for c in convs)  # no spectral norm
    x = torch.randn(2, 1, 64, 64)
    assert torch.equal(gan.objective.augment(x), x)  # no DiffAugment
    assert gan.objective.real_label == 1.0 and gan.ema_decay is None  # no smoothing, no EMA
    assert gan.g_optimizer == gan.d_optimizer == {"lr": 2e-4, "betas": (0.5, 0.999)}


def test_proposed_stabilisers_switch_on():
    gan = build_gan(
        "proposed", resolution=64, spectral_norm=True, diffaugment="color,translation,cutout",
        label_smoothing=0.1, ema_decay=0.999, d_norm="none", **TINY,
    )  # fmt: skip
    convs = _modules(gan.discriminator, nn.Conv2d)
    assert all(parametrize.is_parametrized(c, "weight") for c in convs)
    assert not _modules(gan.discriminator, nn.BatchNorm2d)
    assert gan.objective.augment.ops == ("brightness", "contrast", "translation", "cutout")
    assert not torch.equal(gan.objective.augment(torch.randn(2, 1, 64, 64)), torch.zeros(1))
    assert gan.objective.real_label == 0.9 and gan.ema_decay == 0.999


def test_proposed_tuned_is_dcgan_with_leaky_relu_and_ema():
    gan = build_gan("proposed_tuned", resolution=64, **TINY)
    assert all(m.negative_slope == 0.2 for m in _modules(gan.generator, nn.LeakyReLU))
    assert not _modules(gan.discriminator, nn.Dropout)
    assert len(_modules(gan.discriminator, nn.BatchNorm2d)) == 3
    assert gan.ema_decay == 0.999 and gan.objective.real_label == 1.0


def test_paper_deviations_name_what_a_run_changed():
    from cxr_synth.models.options import ProposedOptions

    assert ProposedOptions(g_width=16, d_width=16, max_width=64).paper_deviations() == {}
    assert ProposedOptions(dropout=0.0, ema_decay=0.999).paper_deviations() == {
        "dropout": (0.0, 0.3),
        "ema_decay": (0.999, None),
    }


def test_spectral_norm_bounds_the_layer():
    gan = build_gan("proposed", resolution=32, spectral_norm=True, **TINY)
    conv = _modules(gan.discriminator, nn.Conv2d)[1]
    for _ in range(30):  # power iterations converge in training mode
        gan.discriminator(torch.randn(2, 1, 32, 32))
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=0.05)
