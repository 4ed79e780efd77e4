"""TrainState: everything a run changes, saved and loaded as one state dict."""

from __future__ import annotations

import torch

from cxr_synth.training.distributed import DistInfo
from cxr_synth.training.ema import make_ema
from cxr_synth.training.state import Best, TrainState
from cxr_synth.training.util import seed_everything
from tests.training import LATENT_DIM, make_tiny_gan, states_equal


def tiny_state(seed: int) -> TrainState:
    """A TrainState of the tiny GAN after one G and one D update (non-empty optimiser state)."""
    gan = make_tiny_gan(seed)
    g, d = gan.generator, gan.discriminator
    state = TrainState(
        generator=g,
        discriminator=d,
        g_optimizer=torch.optim.Adam(g.parameters()),
        d_optimizer=torch.optim.Adam(d.parameters()),
        g_scaler=torch.amp.GradScaler("cpu", enabled=False),
        d_scaler=torch.amp.GradScaler("cpu", enabled=False),
        ema=make_ema(g, 0.9),
    )
    for optimizer, loss in ((state.g_optimizer, g), (state.d_optimizer, lambda z: d(g(z)))):
        loss(torch.randn(4, LATENT_DIM)).mean().backward()
        optimizer.step()
    state.ema.update_parameters(g)
    return state


def test_state_dict_round_trip_restores_every_part_and_the_rng():
    source = tiny_state(0)
    source.epoch, source.global_step, source.collapse_count = 3, 6, 1
    source.history = [{"epoch": 1, "d_loss": 0.5}]
    assert source.best.offer(2.0, 3, source.generator)
    seed_everything(11)
    saved = source.state_dict()
    expected = torch.rand(3)

    target = tiny_state(1)
    assert target.load_state_dict(saved)
    assert torch.equal(torch.rand(3), expected)  # the RNG streams came back
    for part in ("generator", "discriminator"):
        assert states_equal(getattr(target, part).state_dict(), getattr(source, part).state_dict())
    assert states_equal(target.ema.module.state_dict(), source.ema.module.state_dict())
    assert target.ema.num_updates == 1
    a, b = target.g_optimizer.state_dict()["state"], source.g_optimizer.state_dict()["state"]
    assert torch.equal(a[0]["exp_avg"], b[0]["exp_avg"])
    assert (target.epoch, target.global_step, target.collapse_count) == (3, 6, 1)
    assert target.history == source.history and target.history is not source.history
    assert target.best.score == 2.0 and target.best.epoch == 3
    assert states_equal(target.best.generator, source.best.generator)


def test_rng_is_left_alone_for_another_number_of_processes():
    saved = tiny_state(0).state_dict()
    assert len(saved["rng"]) == 1
    assert not tiny_state(1).load_state_dict(saved, DistInfo(rank=1, world_size=2))


def test_best_keeps_only_lower_finite_scores():
    generator = make_tiny_gan().generator
    best = Best()
    assert not best.offer(None, 1, generator) and not best.offer(float("nan"), 1, generator)
    assert best.offer(3.0, 2, generator) and best.epoch == 2
    with torch.no_grad():
        next(generator.parameters()).add_(1)  # the kept copy is a snapshot
    assert not best.offer(3.0, 3, generator) and not best.offer(4.0, 4, generator)
    assert not states_equal(best.generator, generator.state_dict())
    assert best.offer(1.0, 5, generator) and (best.score, best.epoch) == (1.0, 5)
