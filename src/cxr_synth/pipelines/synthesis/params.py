"""The ``synthesis`` parameters (conf/base/parameters_synthesis.yml)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cxr_synth.schema import Device, Float, Int, StrictModel

Count = Annotated[Int, Field(ge=1)]
Split = Literal["train", "val", "test"]


class SamplingParams(StrictModel):
    """How a generator is sampled (also used for the segmentation pairs)."""

    batch_size: Count = 64
    seed: Int = 0  # noise stream: the same z for every architecture
    device: Device = "auto"
    truncation_psi: Annotated[Float, Field(ge=0.0, le=1.0)] = 1.0  # StyleGAN; 1 = none


class GridParams(StrictModel):
    """The real-vs-synthetic figure (the paper's Figure 5)."""

    n_columns: Count = 8
    real_splits: list[Split] = Field(default=["test"], min_length=1)
    seed: Int = 0


class SynthesisParams(SamplingParams):
    """N images per generator, and the grid figure."""

    n_images: Count = 64
    grid: GridParams = GridParams()
