"""How to train one U-Net (``segmentation.unet``): a parameter model, without torch (the
segmentation pipeline's parameters import it; ``cxr_synth.segmentation.train`` uses it)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from cxr_synth.runtime.schema import Bool, Count, Device, Float, Int, StrictModel
from cxr_synth.segmentation.intensity import Intensity

NonNegative = Annotated[Float, Field(ge=0.0)]

BASELINES = ("none", "classic")  # the augmentation methods without synthetic images


class SegmentationConfig(StrictModel):
    """How to train one U-Net (``segmentation.unet``); every field has a default. ``epochs`` and
    ``patience`` count epochs. ``device`` "auto": cuda, else mps, else cpu. Precision: mixed
    (autocast) on CUDA, fp32 elsewhere."""

    epochs: Count = 50  # at most; early stopping may end sooner
    batch_size: Count = 16  # images per optimiser step
    learning_rate: NonNegative = 1e-3  # Adam
    weight_decay: NonNegative = 0.0  # Adam's L2 penalty
    patience: Count = 10  # epochs without a better validation Dice before stopping
    base_width: Count = 16  # channels of the first level, doubling per level
    depth: Count = 4  # down-sampling levels: image sides must be divisible by 2**depth
    device: Device = "auto"  # auto = cuda, else mps, else cpu
    seed: Int = 0  # weights, batch order, augmentation (set per run from segmentation.seeds)
    num_workers: Annotated[Int, Field(ge=0)] = 0  # DataLoader workers
    max_steps_per_epoch: Count | None = None  # cap on steps per epoch (tests, demos)
    # input normalisation of every image the U-Net sees (train, test, external images)
    intensity: Intensity = "none"
    # predict from the mean logits of the image and its mirror image (validation, test, external)
    test_time_flip: Bool = False

    @classmethod
    def from_dict(cls, params: Any = None, prefix: str = "") -> SegmentationConfig:
        """Build from YAML parameters (errors name ``prefix.key``)."""
        return cls.parse(params, prefix=prefix)
