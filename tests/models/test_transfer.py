import pytest
import torch

from cxr_synth.models.registry import build_gan
from cxr_synth.models.transfer import load_matching_weights


def test_a_two_channel_generator_starts_from_one_channel_weights_except_its_output():
    one = build_gan("dcgan", resolution=32, channels=1, seed=0, g_width=4, d_width=4).generator
    two = build_gan("dcgan", resolution=32, channels=2, seed=1, g_width=4, d_width=4).generator
    skipped = load_matching_weights(two, one.state_dict())
    assert skipped and len(skipped) < len(two.state_dict()) // 2
    for name, tensor in two.state_dict().items():
        if name not in skipped:
            assert torch.equal(tensor, one.state_dict()[name]), name
        else:
            assert tensor.shape != one.state_dict()[name].shape, name


def test_weights_of_another_architecture_are_refused():
    dcgan = build_gan("dcgan", resolution=32, g_width=4, d_width=4).generator
    style = build_gan(
        "stylegan", resolution=32, g_width=4, d_width=4, max_width=4, w_dim=8, mapping_layers=2
    ).generator
    with pytest.raises(ValueError, match="same model options"):
        load_matching_weights(style, dcgan.state_dict())
