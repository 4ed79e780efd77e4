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


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3)
        self.bn = torch.nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(self.conv(x))


def _reference_ema(generator, decay):
    """The previous implementation: AveragedModel, per-tensor lerp_, int(num_averaged)."""
    from torch.optim.swa_utils import AveragedModel

    @torch.no_grad()
    def ema_update(averaged, current, num_averaged):
        weight = 1.0 - warmup_decay(decay, int(num_averaged))
        for mean, value in zip(averaged, current, strict=True):
            if mean.is_floating_point():
                mean.lerp_(value, weight)
            else:
                mean.copy_(value)

    return AveragedModel(generator, multi_avg_fn=ema_update, use_buffers=True)


def _train_a_little(net, ema, reference, steps):
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        net(torch.randn(4, 1, 6, 6)).square().mean().backward()
        opt.step()
        ema.update_parameters(net)
        reference.update_parameters(net)


def test_foreach_ema_is_bit_identical_to_averaged_model_and_resumes():
    torch.manual_seed(0)
    net = _Net()
    ema, reference = make_ema(net, 0.99), _reference_ema(net, 0.99)
    _train_a_little(net, ema, reference, 30)
    assert ema.num_updates == 30 and isinstance(ema.num_updates, int)
    state, expected = ema.state_dict(), reference.state_dict()
    assert state.keys() == expected.keys()  # AveragedModel's checkpoint layout
    assert all(torch.equal(state[k], expected[k]) for k in state)
    # A checkpoint restores the counter (hence the warm-up decay) with the weights.
    resumed = make_ema(_Net(), 0.99)
    resumed.load_state_dict(state)
    assert resumed.num_updates == 30
    _train_a_little(net, resumed, reference, 5)
    state, expected = resumed.state_dict(), reference.state_dict()
    assert all(torch.equal(state[k], expected[k]) for k in state)
