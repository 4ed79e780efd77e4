"""The ``training`` and per-architecture parameters (conf/base/parameters_training.yml).

``training`` (and ``pair_training``, the same shape) is shared by every architecture; each
architecture's section holds its ``model`` and single ``loop`` overrides.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from cxr_synth.metrics.params import FeatureParams
from cxr_synth.models.options import ArchitectureOptions
from cxr_synth.models.registry import REGISTRY, parse_options
from cxr_synth.runtime.schema import Bool, Count, Float, PathStr, Split, StrictModel
from cxr_synth.training.loop_config import LoopOverrides, TrainConfig


class DataParams(StrictModel):
    """Which images a GAN learns from, and the augmentation applied when they are loaded."""

    # manifest splits the GANs learn from
    splits: list[Split] = Field(default=["train"], min_length=1)
    rotation_degrees: Annotated[Float, Field(ge=0.0, le=180.0)] = 3.0  # random rotation in ±d
    horizontal_flip: Bool = False  # puts the heart on the wrong side: keep off (docs/data.md)


class TrainingFidParams(FeatureParams):
    """The Fréchet distance during training: ``n_fake`` samples against ``n_real`` fixed real
    training images (the best-FID generator is kept)."""

    n_real: Count = 512  # real training images in the reference statistics
    n_fake: Count = 256  # generated images per evaluation


class TrainingParams(StrictModel):
    """The shared training section (``training``; ``pair_training`` for image+mask GANs)."""

    data: DataParams = DataParams()
    loop: TrainConfig = TrainConfig()
    evaluation: TrainingFidParams = TrainingFidParams()
    checkpoint_root: PathStr = "data/06_models/checkpoints"  # <root>/<arch>/epoch_*.pt
    init_from_pretrained: Bool = False  # pair GANs: start G from the NIH-trained weights


class ModelParams(StrictModel):
    """``<arch>.model``: which architecture, and its options (``cxr_synth.models.options``)."""

    architecture: Literal[tuple(REGISTRY)]  # type: ignore[valid-type]
    options: ArchitectureOptions = Field(default_factory=ArchitectureOptions)

    @field_validator("options", mode="before")
    @classmethod
    def _options_of_the_architecture(cls, value: Any, info) -> Any:
        name = info.data.get("architecture")
        if name is None:  # the architecture itself is invalid; that error is reported
            return ArchitectureOptions()
        return parse_options(name, value, prefix="")


class ArchitectureParams(StrictModel):
    """``<arch>``: one architecture's model and its single ``training.loop`` overrides (a
    conditional one's, e.g. ``mask2image``, override ``pair_training.loop``)."""

    model: ModelParams
    loop: LoopOverrides = LoopOverrides()


__all__ = ["ArchitectureParams", "DataParams", "LoopOverrides", "ModelParams",
           "TrainingFidParams", "TrainingParams"]  # fmt: skip
