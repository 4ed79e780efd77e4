"""Objectives and penalties against hand computations on critics whose input gradient is known."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cxr_synth.models import (
    LeastSquares,
    NonSaturating,
    WassersteinGP,
    gradient_penalty,
    r1_penalty,
)

SHAPE = (1, 8, 8)


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w for every x, so ||grad|| = ||w||."""

    def __init__(self, norm: float = 3.0):
        super().__init__()
        self.fc = nn.Linear(math.prod(SHAPE), 1)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn_like(self.fc.weight))
            self.fc.weight.mul_(norm / self.fc.weight.norm())

    def forward(self, x):
        return self.fc(x.flatten(1)).view(x.shape[0])


class QuadraticCritic(nn.Module):
    """D(x) = 1/2 sum(a * x^2): input gradient a * x, so R1 = mean_b ||a * x_b||^2."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.rand(SHAPE) + 0.5)

    def forward(self, x):
        return 0.5 * (self.a * x.square()).flatten(1).sum(1)


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=g), torch.randn(n, *SHAPE, generator=g)


def test_gradient_penalty_matches_hand_computation_and_is_differentiable():
    critic = LinearCritic(norm=3.0)
    real, fake = _batch()
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((3.0 - 1.0) ** 2, rel=1e-5)
    gp.backward()  # create_graph=True: the penalty has a gradient wrt the critic's weights
    w = critic.fc.weight.detach()
    expected = 2 * (w.norm() - 1) * w / w.norm()  # d/dw (||w|| - 1)^2
    torch.testing.assert_close(critic.fc.weight.grad, expected, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_uses_per_sample_interpolates():
    # D(x) = 1/2 ||x||^2 has gradient x: with real = 2, fake = 0 the interpolate is 2*eps, so
    # GP = mean_b (2 eps_b ||1|| - 1)^2 depends on eps; check eps is uniform and differs per sample.
    critic = QuadraticCritic()
    with torch.no_grad():
        critic.a.fill_(1.0)
    real, fake = torch.full((4096, *SHAPE), 2.0), torch.zeros(4096, *SHAPE)
    torch.manual_seed(0)
    gp = gradient_penalty(critic, real, fake)
    n = math.sqrt(math.prod(SHAPE))  # ||grad|| = 2 eps n
    expected = 4 * n**2 / 3 - 2 * n + 1  # E[(2 n eps - 1)^2], eps ~ U[0, 1]
    assert gp.item() == pytest.approx(expected, rel=0.05)


def test_r1_penalty_matches_hand_computation_and_is_differentiable():
    critic = QuadraticCritic()
    real, _ = _batch()
    r1 = r1_penalty(critic, real)
    a = critic.a.detach()
    expected = (a * real).square().flatten(1).sum(1).mean()
    assert r1.item() == pytest.approx(expected.item(), rel=1e-5)
    r1.backward()
    torch.testing.assert_close(critic.a.grad, (2 * a * real.square()).mean(0), rtol=1e-4, atol=1e-6)


def test_penalties_run_in_float32_under_autocast():
    critic = LinearCritic(norm=3.0)  # nn.Linear runs in bf16 under CPU autocast
    quadratic = QuadraticCritic()
    real, fake = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert critic(real).dtype == torch.bfloat16  # autocast is really on
        gp = gradient_penalty(critic, real.bfloat16(), fake.bfloat16())
        r1 = r1_penalty(quadratic, real)
    assert gp.dtype == torch.float32 and r1.dtype == torch.float32
    assert gp.item() == pytest.approx(4.0, rel=1e-5)  # a bf16 gradient would be off by ~1e-3
    expected_r1 = (quadratic.a * real).square().flatten(1).sum(1).mean()
    assert r1.item() == pytest.approx(expected_r1.item(), rel=1e-5)


def test_non_saturating_with_one_sided_label_smoothing():
    critic = LinearCritic()
    real, fake = _batch()
    loss, logs = NonSaturating(real_label=0.9).discriminator_loss(critic, real, fake, step=0)
    s_real, s_fake = critic(real).detach(), critic(fake).detach()
    expected = (
        -(0.9 * torch.sigmoid(s_real).log() + 0.1 * (1 - torch.sigmoid(s_real)).log()).mean()
        - (1 - torch.sigmoid(s_fake)).log().mean()  # fakes keep target 0
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["d_real"].item() == pytest.approx(s_real.mean().item(), rel=1e-5)
    g_loss, _ = NonSaturating(real_label=0.9).generator_loss(critic, fake)
    assert g_loss.item() == pytest.approx(-torch.sigmoid(s_fake).log().mean().item(), rel=1e-5)


def test_lazy_r1_every_interval_scaled_by_interval():
    critic = LinearCritic(norm=2.0)  # R1 = ||w||^2 = 4
    real, fake = _batch()
    plain = NonSaturating()
    lazy = NonSaturating(r1_gamma=0.5, r1_interval=4)
    base, _ = plain.discriminator_loss(critic, real, fake, step=0)
    for step in range(9):
        loss, logs = lazy.discriminator_loss(critic, real, fake, step=step)
        if step % 4 == 0:
            assert logs["r1"].item() == pytest.approx(4.0, rel=1e-5)
            assert loss.item() == pytest.approx(base.item() + 0.5 / 2 * 4 * 4.0, rel=1e-5)
        else:
            assert "r1" not in logs
            assert loss.item() == pytest.approx(base.item(), rel=1e-6)


def test_least_squares_formulas():
    critic = LinearCritic()
    real, fake = _batch()
    s_real, s_fake = critic(real).detach(), critic(fake).detach()
    d_loss, _ = LeastSquares().discriminator_loss(critic, real, fake, step=0)
    expected = 0.5 * ((s_real - 1).square().mean() + s_fake.square().mean())
    assert d_loss.item() == pytest.approx(expected.item(), rel=1e-5)
    g_loss, _ = LeastSquares().generator_loss(critic, fake)
    assert g_loss.item() == pytest.approx(0.5 * (s_fake - 1).square().mean().item(), rel=1e-5)


def test_wasserstein_gp_formulas():
    critic = LinearCritic(norm=3.0)
    real, fake = _batch()
    s_real, s_fake = critic(real).detach(), critic(fake).detach()
    d_loss, logs = WassersteinGP(gp_lambda=10.0).discriminator_loss(critic, real, fake, step=0)
    expected = s_fake.mean() - s_real.mean() + 10.0 * (3.0 - 1.0) ** 2
    assert d_loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["gp"].item() == pytest.approx(4.0, rel=1e-5)
    g_loss, _ = WassersteinGP().generator_loss(critic, fake)
    assert g_loss.item() == pytest.approx(-s_fake.mean().item(), rel=1e-5)


OBJECTIVES = [
    NonSaturating,
    lambda **kw: NonSaturating(r1_gamma=1.0, **kw),
    LeastSquares,
    WassersteinGP,
]


@pytest.mark.parametrize("make", OBJECTIVES)
def test_d_loss_does_not_reach_the_generator_and_augment_sees_every_input(make):
    seen = []

    def augment(x):
        seen.append(x.shape[0])
        return x.flip(-1)

    critic = LinearCritic()
    real, fake = _batch()
    fake.requires_grad_(True)
    loss, logs = make(augment=augment).discriminator_loss(critic, real, fake, step=0)
    loss.backward()
    assert fake.grad is None
    assert len(seen) == 2  # real and fake, once each
    assert all(torch.isfinite(v) and v.dim() == 0 for v in logs.values())
    g_loss, _ = make(augment=augment).generator_loss(critic, fake)
    g_loss.backward()
    assert len(seen) == 3 and fake.grad is not None and fake.grad.abs().sum() > 0


def test_losses_are_float32_under_autocast():
    critic = LinearCritic()
    real, fake = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for objective in (NonSaturating(r1_gamma=1.0), LeastSquares(), WassersteinGP()):
            d_loss, _ = objective.discriminator_loss(critic, real, fake, step=0)
            g_loss, _ = objective.generator_loss(critic, fake)
            assert d_loss.dtype == g_loss.dtype == torch.float32


def test_bce_with_logits_is_stable_for_large_scores():
    class Confident(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, 0] * 1e4

    real, fake = _batch()
    loss, _ = NonSaturating().discriminator_loss(Confident(), real, fake, step=0)
    g_loss, _ = NonSaturating().generator_loss(Confident(), fake)
    assert torch.isfinite(loss) and torch.isfinite(g_loss)
    assert F.softplus(torch.tensor(1e4)).isfinite()


def test_objectives_say_whether_they_need_double_backward():
    from cxr_synth.models.base import needs_double_backward
    from cxr_synth.models.losses import LeastSquares, NonSaturating, NonSaturatingR1, WassersteinGP
    from cxr_synth.models.registry import build_gan

    assert not NonSaturating().needs_double_backward
    assert NonSaturating(r1_gamma=1.0).needs_double_backward
    assert NonSaturatingR1().needs_double_backward
    assert not LeastSquares().needs_double_backward
    assert WassersteinGP().needs_double_backward
    assert not WassersteinGP(gp_lambda=0.0).needs_double_backward
    assert not needs_double_backward(object())  # objectives without the attribute: False
    small = {"resolution": 16, "g_width": 4, "d_width": 4}
    flags = {
        name: needs_double_backward(build_gan(name, **small, **extra).objective)
        for name, extra in [
            ("dcgan", {}),
            ("lsgan", {}),
            ("wgan_gp", {}),
            ("stylegan", {"max_width": 8, "w_dim": 8}),
            ("proposed", {}),
        ]
    }
    assert flags == {
        "dcgan": False,
        "lsgan": False,
        "wgan_gp": True,
        "stylegan": True,
        "proposed": False,
    }
    assert needs_double_backward(build_gan("proposed", **small, r1_gamma=1.0).objective)
