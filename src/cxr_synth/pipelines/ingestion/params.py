"""The ``ingestion`` parameters (conf/base/parameters_ingestion.yml), validated before the run."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from cxr_synth.runtime.schema import Bool, Float, Int, StrictModel

Fraction = Annotated[Float, Field(ge=0.0, lt=1.0)]


class SplitParams(StrictModel):
    """Patient-level split: NIH's official lists when present (``auto``), else seeded."""

    # auto: official lists when present, else seeded
    source: Literal["auto", "official", "seeded"] = "auto"
    val_fraction: Fraction = 0.1  # share of train_val patients held out for validation
    test_fraction: Fraction = 0.2  # seeded splits only

    @model_validator(mode="after")
    def _fractions_leave_training(self) -> SplitParams:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1 (got {self.val_fraction} + "
                f"{self.test_fraction}): nothing would be left to train on"
            )
        return self


class IngestionParams(StrictModel):
    """Which NIH ChestX-ray14 rows become training images, and how patients are split."""

    # exact `Finding Labels` values to keep
    finding_labels: list[str] = Field(default=["No Finding"], min_length=1)
    # Rows whose label matches a wanted one only after case/whitespace normalisation
    # ("No finding", "No Finding "): counted and warned about; kept only if true.
    accept_label_variants: Bool = False
    # views to keep
    view_positions: list[Literal["PA", "AP"]] = Field(default=["PA", "AP"], min_length=1)
    age_range: tuple[Float, Float] = (0.0, 120.0)  # years, inclusive
    # patient genders to keep
    genders: list[Literal["M", "F"]] = Field(default=["M", "F"], min_length=1)
    max_images: Annotated[Int, Field(ge=1)] | None = None  # seeded cap after all filters
    seed: Int = 42  # the max_images sample and the seeded split
    split: SplitParams = SplitParams()
    # rows without an image file: reject and go on, or stop
    on_missing_images: Literal["proceed", "fail"] = "proceed"
    @field_validator("view_positions", "genders", mode="before")
    @classmethod
    def _upper(cls, values: object) -> object:
        return [v.upper() if isinstance(v, str) else v for v in values] if isinstance(
            values, list
        ) else values

    @field_validator("age_range")
    @classmethod
    def _ordered_ages(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 <= low <= high <= 130:
            raise ValueError(f"must be [min, max] years with 0 <= min <= max <= 130, got {value}")
        return value
