"""Saved U-Nets: a spec plus one state dict per seed rebuild the same networks."""

import pytest
import torch

from cxr_synth.models.unet import UNet
from cxr_synth.segmentation import SegmentationConfig, build_unets, unet_spec


def _trained(seeds=(0, 1), base_width=4, depth=2):
    states = {}
    for seed in seeds:
        torch.manual_seed(seed)
        states[seed] = UNet(1, 1, base_width, depth).state_dict()
    spec = unet_spec(
        SegmentationConfig(base_width=base_width, depth=depth), 32, seeds, method="none"
    )
    return spec, states


def test_rebuilt_unets_compute_what_the_saved_ones_did():
    spec, states = _trained()
    assert spec | {"resolution": 32, "base_width": 4, "depth": 2, "seeds": [0, 1]} == spec
    models = build_unets(spec, {str(k): v for k, v in states.items()})  # JSON-style keys too
    x = torch.randn(2, 1, 32, 32)
    for seed, state in states.items():
        reference = UNet(1, 1, 4, 2)
        reference.load_state_dict(state)
        assert not models[seed].training
        torch.testing.assert_close(models[seed](x), reference.eval()(x), rtol=0, atol=0)
    assert not torch.equal(models[0](x), models[1](x))


def test_mismatched_spec_and_weights_are_refused_with_the_cause():
    spec, states = _trained()
    with pytest.raises(ValueError, match=r"seed\(s\) \[1\]"):
        build_unets(spec, {0: states[0]})
    with pytest.raises(ValueError, match="do not fit UNet"):
        build_unets({**spec, "base_width": 8}, states)
    with pytest.raises(ValueError, match="lacks"):
        build_unets({k: v for k, v in spec.items() if k != "depth"}, states)
