"""The ``preprocessing`` parameters (conf/base/parameters_preprocessing.yml)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from cxr_synth.data.imaging import RESAMPLING, ResizeSpec
from cxr_synth.runtime.schema import Float, Int, StrictModel

RESOLUTIONS = (32, 64, 128, 256, 512)  # powers of two: every generator doubles its way up
Resolution = Literal[32, 64, 128, 256, 512]
MinSize = Annotated[Int, Field(ge=1, le=4096)]
Share = Annotated[Float, Field(ge=0.0, le=1.0)]


class SegmentationPreprocessing(StrictModel):
    """The lung-mask set: layout, resolution and what counts as a plausible mask."""

    resolution: Resolution | None = 64  # null: the images' `resolution`
    # montgomery (CXR_png + ManualMask/left|rightMask) or paired (images/ + masks/)
    layout: Literal["montgomery", "paired"] = "montgomery"
    mask_suffix: str = "_mask"  # paired layout: masks/X<suffix>.png or masks/X.png
    lung_labels: list[Int] | None = None  # multi-label masks; null: masks must be binary
    patient_pattern: str = r"^(.*?)(?:_\d)?$"  # group 1 of the file stem is the patient id
    # Masks whose lung share (after resizing) lies outside this range are rejected.
    lung_fraction: tuple[Share, Share] = (0.05, 0.70)

    @field_validator("patient_pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        try:
            groups = re.compile(value).groups
        except re.error as error:
            raise ValueError(f"is not a regular expression ({error})") from None
        if groups < 1:
            raise ValueError("needs a group: group 1 of the file stem is the patient id")
        return value

    @field_validator("lung_fraction")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] >= value[1]:
            raise ValueError(f"must be [min, max] with min < max, got {list(value)}")
        return value


class ExternalImages(StrictModel):
    """An extra real image folder (another hospital) that evaluation also measures against."""

    name: str = "external"  # its label in the comparison table and docs
    include: str = ".*"  # regex on each PNG's path under the folder (no .png); e.g. ^CXR_png/

    @field_validator("include")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression ({error})") from None
        return value


class PreprocessingParams(StrictModel):
    """How raw PNGs become the training arrays (uint8, square)."""

    resolution: Resolution = 128  # side of the square training images, px
    # how non-square images become square
    square: Literal["center_crop", "pad", "stretch"] = "center_crop"
    resample: Literal[tuple(RESAMPLING)] = "lanczos"  # type: ignore[valid-type]  # antialiased filter
    # 16-bit PNGs: per-image min_max, or full_range (/65535)
    high_bit_scaling: Literal["min_max", "full_range"] = "min_max"
    min_image_size: MinSize = 64  # px; smaller images are rejected (counted, with the reason)
    workers: Annotated[Int, Field(ge=1)] | None = None  # decoding processes; null: all cores
    segmentation: SegmentationPreprocessing = SegmentationPreprocessing()
    external: ExternalImages = ExternalImages()

    def spec(self, resolution: int | None = None) -> ResizeSpec:
        """The library's resize settings, at ``resolution`` (default: the images')."""
        return ResizeSpec(
            resolution=resolution or self.resolution,
            square=self.square,
            resample=self.resample,
            high_bit_scaling=self.high_bit_scaling,
            min_size=self.min_image_size,
        )
