import pytest
import torch

from cxr_synth.training.ema import make_ema, warmup_decay


def test_decay_warms_up_to_the_configured_value():
    assert warmup_decay(0.999, 0) == pytest.approx(0.1)
    assert warmup_decay(0.999, 90) == pytest.approx(0.91)
    assert warmup_decay(0.999, 100_000) == 0.999


def test_short_runs_follow_the_generator_instead_of_its_initialisation():
    generator = torch.nn.BatchNorm1d(2)  # a float parameter and an integer buffer
    ema = make_ema(generator, decay=0.999)
    for _ in range(20):
        with torch.no_grad():
            generator.weight.add_(1.0)
        generator.num_batches_tracked += 1
        ema.update_parameters(generator)
    # fixed 0.999 would leave the average near the start (~1.2); the warm-up tracks G (21)
    assert ema.module.weight[0].item() > 15
    assert ema.module.num_batches_tracked.item() == 20
