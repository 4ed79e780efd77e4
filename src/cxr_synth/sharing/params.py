"""How a generator is sampled: the parameters the synthesis and segmentation stages share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cxr_synth.runtime.schema import Count, Device, Float, Int, StrictModel


class SamplingParams(StrictModel):
    """How a generator is sampled (also used for the segmentation pairs)."""

    batch_size: Count = 64  # images per generator forward pass
    seed: Int = 0  # noise stream: the same z for every architecture
    device: Device = "auto"  # auto = cuda, else mps, else cpu
    truncation_psi: Annotated[Float, Field(ge=0.0, le=1.0)] = 1.0  # StyleGAN; 1 = none
