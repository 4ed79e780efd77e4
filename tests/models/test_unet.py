import pytest
import torch

from cxr_synth.models.unet import UNet


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_logits_have_the_input_size(depth):
    model = UNet(in_channels=1, out_channels=2, base_width=4, depth=depth)
    assert model(torch.randn(2, 1, 32, 48)).shape == (2, 2, 32, 48)


def test_depth_sets_the_number_of_poolings_and_widths():
    model = UNet(base_width=4, depth=3)
    assert len(model.down) == len(model.up) == 3
    assert model.down[-1][0].out_channels == 4 * 2**3
    assert model.up[0][0].in_channels == 2 * 4 * 2**2  # upsampled features + skip, concatenated


def test_gradients_reach_every_parameter():
    model = UNet(base_width=4, depth=2)
    model(torch.randn(2, 1, 16, 16)).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_wrong_size_names_the_size_and_the_fix():
    with pytest.raises(ValueError, match=r"divisible by 16, got 40x40.*pad") as info:
        UNet(base_width=4, depth=4)(torch.randn(1, 1, 40, 40))
    assert "depth" in str(info.value)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        UNet(depth=0)
