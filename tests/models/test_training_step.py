"""One optimisation step per architecture, as the architecture-agnostic training loop will do it."""

import pytest
import torch

from cxr_synth.models import ARCHITECTURES, build_gan

GANS = tuple(name for name in ARCHITECTURES if name != "ddpm")  # ddpm: test_diffusion.py


def _step(gan, real, step, autocast=False):
    g_opt = torch.optim.Adam(gan.generator.parameters(), **gan.g_optimizer)
    d_opt = torch.optim.Adam(gan.discriminator.parameters(), **gan.d_optimizer)
    g_before = [p.detach().clone() for p in gan.generator.parameters()]
    d_before = [p.detach().clone() for p in gan.discriminator.parameters()]
    z = torch.randn(real.shape[0], gan.latent_dim)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        with torch.no_grad():
            fake = gan.generator(z)
        d_loss, d_logs = gan.objective.discriminator_loss(gan.discriminator, real, fake, step)
    d_opt.zero_grad()
    d_loss.backward()
    d_opt.step()
    assert all(torch.equal(a, b) for a, b in zip(g_before, gan.generator.parameters(), strict=True))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        g_loss, g_logs = gan.objective.generator_loss(gan.discriminator, gan.generator(z))
    g_opt.zero_grad()
    g_loss.backward()
    g_opt.step()
    return d_loss, g_loss, d_logs | g_logs, g_before, d_before


def _changed(before, module):
    return sum(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def _output_bias(module) -> int:
    """1 if the last parameter is a one-number output bias, else 0. Under a loss linear in the
    scores (Wasserstein, hinge inside its margin) with as many real as fake images, its gradient
    is exactly 0 at initialisation, so it need not move in one step."""
    name, last = list(module.named_parameters())[-1]
    return int(name.endswith("bias") and last.numel() == 1)


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("name", GANS)
def test_one_step(name, autocast):
    gan = build_gan(name, resolution=32, g_width=8, d_width=8, seed=0)
    torch.manual_seed(1)
    real = torch.rand(8, 1, 32, 32) * 2 - 1
    d_loss, g_loss, logs, g_before, d_before = _step(gan, real, step=0, autocast=autocast)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert all(torch.isfinite(v) for v in logs.values()), logs
    assert d_loss.abs() < 1e3 and g_loss.abs() < 1e3
    params = [*gan.generator.parameters(), *gan.discriminator.parameters()]
    assert all(torch.isfinite(p).all() for p in params)
    # Almost every tensor moves (unused ones: e.g. the noise strength has grad 0 only by chance).
    assert _changed(g_before, gan.generator) >= 0.9 * len(g_before)
    movable = len(d_before) - _output_bias(gan.discriminator)
    assert _changed(d_before, gan.discriminator) >= 0.9 * movable
    if name in ("wgan_gp",):
        assert "gp" in logs
    if name == "stylegan":
        assert "r1" in logs  # step 0 is an R1 step


def test_proposed_with_every_switch_and_r1():
    gan = build_gan("proposed", resolution=32, g_width=8, d_width=8, r1_gamma=1.0, r1_interval=2)
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    for step in range(2):
        d_loss, g_loss, logs, *_ = _step(gan, real, step=step, autocast=True)
        assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
        assert ("r1" in logs) == (step == 0)
