"""The ``segmentation_external`` parameters (conf/base/parameters_segmentation_external.yml)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from cxr_synth.pipelines.preprocessing.params import SegmentationPreprocessing
from cxr_synth.runtime.schema import Device, Int, StrictModel


class ExternalSetParams(StrictModel):
    """An external lung-mask test set: its name, its files, how to run the U-Nets on it.

    ``files`` has the keys of ``preprocessing.segmentation`` (layout, mask_suffix, lung_labels,
    patient_pattern, lung_fraction) except ``resolution``: the set is resized to the main set's
    segmentation resolution, which each method's ``unet_spec`` is checked against.
    """

    name: Annotated[str, Field(min_length=1)] = "external"  # the data set's name in the tables
    files: SegmentationPreprocessing = SegmentationPreprocessing()
    batch_size: Annotated[Int, Field(ge=1)] = 32  # images per U-Net forward pass
    device: Device = "auto"  # where the U-Nets run
    @field_validator("files")
    @classmethod
    def _no_resolution(cls, value: SegmentationPreprocessing) -> SegmentationPreprocessing:
        if "resolution" in value.model_fields_set:
            raise ValueError(
                "resolution: not set here; the external set is resized to the resolution the "
                "U-Nets were trained at (their unet_spec). Remove the key"
            )
        return value
