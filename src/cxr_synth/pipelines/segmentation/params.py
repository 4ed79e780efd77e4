"""The ``segmentation`` parameters (conf/base/parameters_segmentation.yml)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from cxr_synth.runtime.schema import Bool, Count, Float, Int, StrictModel
from cxr_synth.segmentation import SegmentationConfig
from cxr_synth.sharing.params import SamplingParams

Fraction = Annotated[Float, Field(gt=0.0, lt=1.0)]
Amount = Annotated[Float, Field(ge=0.0, lt=1.0)]


class SegmentationSplit(StrictModel):
    """Patient-level split of the lung-mask set; the test set is real images only."""

    val_fraction: Fraction = 0.2  # share of patients for validation (early stopping)
    test_fraction: Fraction = 0.2  # share of patients for the Dice test
    seed: Int = 0  # which patients land where

    @model_validator(mode="after")
    def _leaves_training(self) -> SegmentationSplit:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must be < 1: nothing left to train on")
        return self


class LowData(StrictModel):
    """How much of the real training split the U-Nets (and the pair GANs) see."""

    n_train: Count | None = None  # a count of real training images (whole patients); null: fraction
    fraction: Annotated[Float, Field(gt=0.0, le=1.0)] = 1.0  # share of the real training split


Positive = Annotated[Float, Field(gt=0.0)]
PositiveRange = tuple[Positive, Positive]


class GeometricAugmentation(StrictModel):
    """Random affine (+ elastic) moves, the same for an image and its mask."""

    RANGES: ClassVar[tuple[str, ...]] = ("scale",)  # [low, high] fields

    rotation_degrees: Annotated[Float, Field(ge=0.0, le=180.0)] = 10.0  # rotation in ±d
    scale: PositiveRange = (0.9, 1.1)  # random zoom range
    translate: Annotated[Float, Field(ge=0.0, le=0.5)] = 0.0  # shift up to ± this share of the side
    elastic_alpha: Annotated[Float, Field(ge=0.0)] = 0.0  # elastic displacement (px); 0 = off
    elastic_sigma: Positive = 5.0  # smoothness of the elastic field (px)

    @model_validator(mode="after")
    def _ranges_ascend(self) -> GeometricAugmentation:
        for name in self.RANGES:
            low_high = getattr(self, name)
            if low_high is not None and low_high[0] > low_high[1]:
                raise ValueError(f"{name} must be [low, high] with low <= high, got {low_high}")
        return self


class ClassicAugmentation(GeometricAugmentation):
    """Method ``classic``: joint random affine (+ elastic) moves of image and mask, and
    photometric changes of the image only (``build_classic_augmentation``)."""

    RANGES: ClassVar[tuple[str, ...]] = ("scale", "gamma", "blur_sigma")

    brightness: Amount = 0.1  # factor drawn from [1 - x, 1 + x]
    contrast: Amount = 0.1  # factor drawn from [1 - x, 1 + x]
    gamma: PositiveRange | None = None  # gamma drawn from this range; null = off
    blur_sigma: PositiveRange | None = None  # Gaussian blur sigma range (px); null = off
    horizontal_flip: Bool = False  # puts the heart on the wrong side: off (docs/data.md)


class MaskDeformation(GeometricAugmentation):
    """Method ``mask2image``: the new masks it renders, ``synthetic_ratio`` per real training
    image — the real training masks in turn, each moved by a random affine and elastic
    deformation (``deform_masks``; nearest neighbour, so they stay binary)."""

    translate: Annotated[Float, Field(ge=0.0, le=0.5)] = 0.05  # shift: ± this share of the side
    elastic_alpha: Annotated[Float, Field(ge=0.0)] = 30.0  # elastic displacement (px); 0 = off
    seed: Int = 0  # which deformations


class SegmentationParams(StrictModel):
    """U-Net lung segmentation without / with classic / with each GAN's synthetic pairs (the pair
    GANs' samples, mask2image's images rendered on deformed real masks)."""

    split: SegmentationSplit = SegmentationSplit()
    low_data: LowData = LowData()
    seeds: list[Int] = Field(default=[0, 1, 2], min_length=1)  # one U-Net per seed and method
    synthetic_ratio: Annotated[Float, Field(ge=0.0)] = 1.0  # synthetic pairs per real image
    # GAN methods: classic augmentation on their real and synthetic images too (the combination)
    synthetic_with_classic: Bool = False
    # none/classic train for the optimiser steps of a method with synthetic pairs (epochs and
    # patience scaled by 1 + synthetic_ratio, as the loader counts steps): a comparison at
    # equal optimiser steps
    equal_steps: Bool = False
    synthesis: SamplingParams = SamplingParams()
    classic_augmentation: ClassicAugmentation = ClassicAugmentation()
    mask_deformation: MaskDeformation = MaskDeformation()
    unet: SegmentationConfig = SegmentationConfig()
    eval_batch_size: Count = 32  # test images per U-Net forward pass
