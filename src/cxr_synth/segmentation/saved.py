"""Trained U-Nets as data: a spec (how to rebuild them) plus one state dict per seed.

``unet_spec(config, resolution, seeds)`` records what ``UNet(...)`` needs and the image size the
networks were trained at; ``build_unets(spec, state_dicts)`` rebuilds them (strict loading, eval
mode, CPU), so trained U-Nets can be applied to other data without retraining.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from cxr_synth.models.unet import UNet
from cxr_synth.segmentation.train import SegmentationConfig

SPEC_KEYS = ("in_channels", "out_channels", "base_width", "depth", "resolution", "seeds")


def unet_spec(
    config: SegmentationConfig, resolution: int, seeds: Iterable[int], **extra: Any
) -> dict[str, Any]:
    """JSON-able description of the U-Nets trained with ``config`` on ``resolution``² images.

    ``extra`` (e.g. ``method``, ``n_real``) is stored alongside, for provenance.
    """
    return {
        "model": "UNet",
        "in_channels": 1,
        "out_channels": 1,
        "base_width": int(config.base_width),
        "depth": int(config.depth),
        "resolution": int(resolution),
        "intensity": config.intensity,  # apply normalise_intensity(images, this) before predicting
        "test_time_flip": bool(config.test_time_flip),  # predict_masks(..., test_time_flip=this)
        "seeds": [int(s) for s in seeds],
        **extra,
    }


def build_unets(
    spec: Mapping[str, Any], state_dicts: Mapping[Any, Mapping[str, torch.Tensor]]
) -> dict[int, UNet]:
    """``{seed: UNet}`` in eval mode on the CPU, one per seed of ``spec["seeds"]``.

    ``state_dicts`` is keyed by seed (int, or its string form); a missing seed, a state dict that
    does not fit the spec's architecture, or a spec without a required key raises ``ValueError``.
    """
    absent = [k for k in SPEC_KEYS if k not in spec]
    if absent:
        raise ValueError(f"U-Net spec lacks {absent}; it must come from unet_spec()")
    by_seed = {int(k): v for k, v in state_dicts.items()}
    missing = [s for s in spec["seeds"] if int(s) not in by_seed]
    if missing:
        raise ValueError(
            f"no saved weights for seed(s) {missing} (have {sorted(by_seed)}): the spec and the "
            "weights come from different runs; rerun the segmentation experiment"
        )
    models = {}
    for seed in spec["seeds"]:
        model = UNet(
            int(spec["in_channels"]),
            int(spec["out_channels"]),
            int(spec["base_width"]),
            int(spec["depth"]),
        )
        try:
            model.load_state_dict(by_seed[int(seed)], strict=True)
        except RuntimeError as error:
            raise ValueError(
                f"seed {seed}: the saved weights do not fit UNet(base_width={spec['base_width']}, "
                f"depth={spec['depth']}) ({str(error).splitlines()[0]}); the spec and the weights "
                "come from different runs"
            ) from error
        models[int(seed)] = model.eval()
    return models
