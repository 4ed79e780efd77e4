"""StyleGAN2 pieces against their definitions in Karras et al. 2020."""

import pytest
import torch
import torch.nn.functional as F

from cxr_synth.models import build_gan
from cxr_synth.models.stylegan import (
    MappingNetwork,
    StyleGAN2Generator,
    minibatch_stddev,
    modulated_conv2d,
    normalize_2nd_moment,
)


@pytest.fixture
def conv_inputs():
    torch.manual_seed(0)
    return torch.randn(3, 5, 8, 8), torch.randn(7, 5, 3, 3)


def test_modulated_conv_without_demodulation_and_unit_style_is_a_plain_conv(conv_inputs):
    x, weight = conv_inputs
    out = modulated_conv2d(x, weight, torch.ones(3, 5), demodulate=False, padding=1)
    torch.testing.assert_close(out, F.conv2d(x, weight, padding=1), rtol=1e-5, atol=1e-5)


def test_demodulation_normalises_each_output_channel(conv_inputs):
    x, weight = conv_inputs
    out = modulated_conv2d(x, weight, torch.ones(3, 5), padding=1)
    normalised = weight / weight.square().sum(dim=(1, 2, 3), keepdim=True).sqrt()
    torch.testing.assert_close(out, F.conv2d(x, normalised, padding=1), rtol=1e-4, atol=1e-5)


def test_styles_are_per_sample(conv_inputs):
    x, weight = conv_inputs
    styles = torch.rand(3, 5) + 0.5
    out = modulated_conv2d(x, weight, styles, padding=1)
    for i in range(3):
        w = weight * styles[i].view(1, 5, 1, 1)
        w = w / w.square().sum(dim=(1, 2, 3), keepdim=True).sqrt()
        torch.testing.assert_close(
            out[i], F.conv2d(x[i : i + 1], w, padding=1)[0], rtol=1e-4, atol=1e-5
        )


def test_pixel_norm():
    z = torch.randn(4, 10) * 7
    assert torch.allclose(normalize_2nd_moment(z).square().mean(dim=1), torch.ones(4), atol=1e-5)


def test_mapping_tracks_w_avg_only_in_training():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 16, num_layers=2, w_avg_beta=0.0)  # beta 0: w_avg = last batch mean
    z = torch.randn(32, 8)
    mapping.eval()
    mapping(z)
    assert torch.equal(mapping.w_avg, torch.zeros(16))
    mapping.train()
    w = mapping(z)
    torch.testing.assert_close(mapping.w_avg, w.detach().mean(dim=0))


def _trained_generator(**kw):
    torch.manual_seed(0)
    g = StyleGAN2Generator(16, 1, 32, width=8, max_width=16, w_dim=16, mapping_layers=2, **kw)
    for _ in range(5):  # move w_avg away from zero, as training does
        g(torch.randn(8, 16))
    g.eval()
    assert g.mapping.w_avg.abs().sum() > 0
    return g


def test_truncation_psi_zero_gives_w_avg_for_every_z():
    g = _trained_generator()
    z = torch.randn(6, 16)
    ws = g.sample_ws(z, truncation_psi=0.0)
    torch.testing.assert_close(ws, g.mapping.w_avg.expand_as(ws))
    images = g(z, truncation_psi=0.0, noise_mode="none")
    torch.testing.assert_close(images, images[:1].expand_as(images))
    assert not torch.allclose(g(z, noise_mode="none")[0], g(z, noise_mode="none")[1])


def test_truncation_interpolates_towards_w_avg():
    g = _trained_generator()
    z = torch.randn(6, 16)
    w = g.mapping(z)
    torch.testing.assert_close(g.mapping(z, 0.7), g.mapping.w_avg + 0.7 * (w - g.mapping.w_avg))


def test_style_mixing_only_in_training():
    g = _trained_generator(style_mixing_prob=1.0)
    z = torch.randn(4, 16)
    ws = g.sample_ws(z)
    assert torch.equal(ws, ws[:, :1].expand_as(ws))  # eval: one w for all layers
    g.train()
    ws = g.sample_ws(z)
    changes = (ws[:, 1:] != ws[:, :-1]).any(dim=2).any(dim=0)
    assert changes.sum() == 1  # exactly one cut-off, after which the second w is used
    g.style_mixing_prob = 0.0
    ws = g.sample_ws(z)
    assert torch.equal(ws, ws[:, :1].expand_as(ws))


def test_noise_inputs_matter_only_with_learned_strength():
    g = _trained_generator()
    z = torch.randn(2, 16)
    torch.testing.assert_close(g(z), g(z, noise_mode="none"))  # strengths start at 0
    with torch.no_grad():
        for block in g.synthesis.blocks:
            block.conv1.noise_strength.fill_(0.5)
    assert not torch.allclose(g(z), g(z, noise_mode="none"))


def test_number_of_ws():
    g = StyleGAN2Generator(16, 1, 128, width=4, max_width=8, w_dim=8, mapping_layers=1)
    assert g.num_ws == 2 * 7 - 2  # 2 log2(R) - 2, as in the paper


def test_minibatch_stddev_feature():
    x = torch.randn(8, 3, 4, 4)
    out = minibatch_stddev(x, group_size=4)
    assert out.shape == (8, 4, 4, 4)
    torch.testing.assert_close(out[:, :3], x)
    # Groups are samples {i, i+2, i+4, i+6}; the feature is their std averaged over C, H, W.
    for i in range(2):
        group = x[i::2]
        expected = (group.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        assert torch.allclose(out[i::2, 3], expected.expand(4, 4, 4), atol=1e-6)
    assert minibatch_stddev(torch.randn(6, 3, 4, 4), group_size=4).shape == (6, 4, 4, 4)  # g = 3
    same = minibatch_stddev(torch.ones(4, 3, 4, 4))
    assert same[:, 3].max() < 1e-3


def test_r1_gamma_default_follows_resolution():
    assert build_gan("stylegan", resolution=128, g_width=4, d_width=4).objective.r1_gamma == (
        pytest.approx(0.0002 * 128**2 / 32)
    )
    gan = build_gan("stylegan", resolution=64, g_width=4, d_width=4, r1_gamma=0)
    assert gan.objective.r1_gamma == 0 and gan.d_optimizer["lr"] == 0.0025
