"""build_gan: names, options, coercion of YAML values, determinism."""

import pytest
import torch

from cxr_synth.models import ARCHITECTURES, architecture_options, build_gan

TINY = {"g_width": 8, "d_width": 8}
TINY_DDPM = {"widths": [8, 8], "layers_per_block": 1, "attention_resolutions": []}


def tiny(name: str) -> dict:
    """Small options for ``name``: ddpm's networks have their own (a U-Net, no D)."""
    return TINY_DDPM if name == "ddpm" else TINY


def test_architectures_are_the_gans_the_papers_model_its_variant_and_ddpm():
    assert ARCHITECTURES == (
        "dcgan", "lsgan", "wgan_gp", "stylegan", "proposed", "proposed_tuned", "ddpm"
    )  # fmt: skip


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown GAN architecture 'biggan'") as err:
        build_gan("biggan")
    for name in ARCHITECTURES:
        assert name in str(err.value)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_unknown_option_lists_valid_options(name):
    with pytest.raises(ValueError, match=rf"{name}.options.not_an_option: unknown key") as err:
        build_gan(name, resolution=32, not_an_option=1, **tiny(name))
    for option in architecture_options(name):
        assert option in str(err.value)


def test_option_of_another_architecture_is_rejected():
    with pytest.raises(ValueError, match="gp_lambda do.*not apply to this architecture's loss"):
        build_gan("dcgan", resolution=32, gp_lambda=10.0, **TINY)
    with pytest.raises(ValueError, match="w_dim: unknown key"):
        build_gan("dcgan", resolution=32, w_dim=8, **TINY)


def test_the_dcgan_family_shares_its_networks_options():
    lsgan = build_gan("lsgan", resolution=32, d_norm="instance", spectral_norm=True, **TINY)
    assert lsgan.options["d_norm"] == "instance" and lsgan.options["spectral_norm"] is True
    assert build_gan("dcgan", resolution=32, n_critic=2, **TINY).n_critic == 2
    with pytest.raises(ValueError, match="g_width: Input should be greater than or equal to 1"):
        build_gan("dcgan", resolution=32, g_width=0, d_width=8)


def test_bad_values_are_rejected():
    with pytest.raises(ValueError, match="power of two"):
        build_gan("dcgan", resolution=100, **TINY)
    with pytest.raises(ValueError, match="channels"):
        build_gan("dcgan", resolution=32, channels=0, **TINY)
    with pytest.raises(ValueError, match="g_width"):
        build_gan("dcgan", resolution=32, g_width="wide", d_width=8)
    with pytest.raises(ValueError, match="spectral_norm"):
        build_gan("proposed", resolution=32, spectral_norm="yes", **TINY)
    with pytest.raises(ValueError, match="BatchNorm"):
        build_gan("wgan_gp", resolution=32, d_norm="batch", **TINY)
    with pytest.raises(ValueError, match="DiffAugment transform 'saturation'"):
        build_gan("proposed", resolution=32, diffaugment="color,saturation", **TINY)


def test_yaml_values_are_coerced():
    # PyYAML reads 2e-4 as a string, tuples as lists, and a policy may be a list.
    gan = build_gan(
        "proposed",
        resolution=32,
        d_lr="1e-4",
        g_betas=[0.0, 0.9],
        diffaugment=["translation", "cutout"],
        ema_decay=None,
        **TINY,
    )
    assert gan.d_optimizer == {"lr": 1e-4, "betas": (0.5, 0.999)}
    assert gan.g_optimizer == {"lr": 2e-4, "betas": (0.0, 0.9)}
    assert gan.objective.augment.ops == ("translation", "cutout")
    assert gan.ema_decay is None


def test_paper_settings():
    wgan = build_gan("wgan_gp", resolution=32, **TINY)
    assert wgan.n_critic == 5
    assert wgan.d_optimizer == {"lr": 1e-4, "betas": (0.0, 0.9)}
    assert wgan.objective.gp_lambda == 10.0
    dcgan = build_gan("dcgan", resolution=32, **TINY)
    assert dcgan.n_critic == 1 and dcgan.ema_decay is None
    assert dcgan.g_optimizer == {"lr": 2e-4, "betas": (0.5, 0.999)}
    proposed = build_gan("proposed", resolution=32, **TINY)  # the paper's: no EMA, no smoothing
    assert proposed.ema_decay is None and proposed.objective.real_label == 1.0
    assert proposed.objective.r1_gamma == 0.0
    assert build_gan("proposed_tuned", resolution=32, **TINY).ema_decay == 0.999
    style = build_gan("stylegan", resolution=32, **TINY)
    assert style.objective.r1_interval == 16
    c = 16 / 17  # lazy-regularisation correction of D's Adam (Karras et al. 2020, App. B)
    assert style.d_optimizer["lr"] == pytest.approx(0.0025 * c)
    assert style.d_optimizer["betas"] == pytest.approx((0.0, 0.99**c))
    assert style.g_optimizer == {"lr": 0.0025, "betas": (0.0, 0.99)}


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_seeded_build_is_deterministic_and_leaves_global_rng_alone(name):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = build_gan(name, resolution=32, seed=7, **tiny(name))
    assert torch.equal(torch.rand(3), expected_next)  # global RNG untouched
    b = build_gan(name, resolution=32, seed=7, **tiny(name))
    c = build_gan(name, resolution=32, seed=8, **tiny(name))
    networks = ["generator"] + (["discriminator"] if a.discriminator is not None else [])
    for net in networks:
        sa, sb, sc = (getattr(g, net).state_dict() for g in (a, b, c))
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("g_betas", "0.5,0.9"),
        ("dropout", True),
        ("diffaugment", True),
        ("diffaugment", 3),
        ("r1_interval", 2.5),
        ("g_lr", "fast"),
    ],
)
def test_values_of_the_wrong_type_name_the_option(option, value):
    with pytest.raises(ValueError, match=option):
        build_gan("proposed", resolution=32, **{option: value}, **TINY)


def test_switches_accept_yaml_off_values():
    gan = build_gan("proposed", resolution=32, diffaugment=False, r1_interval=4.0, **TINY)
    assert gan.objective.augment(torch.ones(1, 1, 4, 4)).eq(1).all()
    assert gan.objective.r1_interval == 4
    dcgan = build_gan("dcgan", resolution=32, ema_decay="0.99", **TINY)
    assert dcgan.ema_decay == 0.99


def test_build_gan_records_its_full_description():
    gan = build_gan("dcgan", resolution=16, g_width=8, g_lr="1e-4")
    assert gan.options["g_width"] == 8 and gan.options["g_lr"] == 1e-4  # given, coerced
    assert gan.options["d_width"] == 64 and gan.options["max_width"] == 512  # defaults too
    assert (gan.options["resolution"], gan.options["channels"], gan.options["latent_dim"]) == (
        16,
        1,
        100,
    )
