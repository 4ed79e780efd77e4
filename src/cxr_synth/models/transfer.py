"""Start a network from another one's weights where the shapes agree (e.g. 1 -> 2 channels)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


def load_matching_weights(module: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Copy every tensor of ``state_dict`` whose name and shape match ``module``'s.

    Returns the names of ``module``'s tensors left as they were (missing from ``state_dict`` or
    of another shape, such as an output layer with more channels). Raises ``ValueError`` when
    nothing matches: the weights belong to another architecture or size.
    """
    own = module.state_dict()
    matching = {k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise ValueError(
            "none of the given weights matches this network (another architecture, width or "
            "resolution?); check that both were built with the same model options"
        )
    module.load_state_dict(matching, strict=False)
    return sorted(set(own) - set(matching))
