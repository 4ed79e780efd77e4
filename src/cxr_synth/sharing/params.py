"""How a generator is sampled: the parameters the synthesis and segmentation stages share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cxr_synth.runtime.errors import UserError
from cxr_synth.runtime.schema import Count, Device, Float, Int, StrictModel

MAX_IMAGES = 100_000  # per generate() call or pyfunc request: they are sampled into memory


def check_count(n: int) -> int:
    """``n`` if one call may sample that many images (1 to :data:`MAX_IMAGES`)."""
    if not 1 <= n <= MAX_IMAGES:
        raise UserError(f"n = {n}: one call samples 1 to {MAX_IMAGES:,} images (they are held "
                        "in memory); call again with another seed for more")  # fmt: skip
    return n


class SamplingParams(StrictModel):
    """How a generator is sampled (also used for the segmentation pairs)."""

    batch_size: Count = 64  # images per generator forward pass
    seed: Int = 0  # noise stream: the same z for every architecture
    device: Device = "auto"  # auto = cuda, else mps, else cpu
    truncation_psi: Annotated[Float, Field(ge=0.0, le=1.0)] = 1.0  # StyleGAN; 1 = none
