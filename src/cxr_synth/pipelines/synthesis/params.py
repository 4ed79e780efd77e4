"""The ``synthesis`` parameters (conf/base/parameters_synthesis.yml)."""

from __future__ import annotations

from pydantic import Field, field_validator

from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.runtime.schema import Count, Int, Split, StrictModel
from cxr_synth.sharing.params import SamplingParams


class GridParams(StrictModel):
    """The real-vs-synthetic figure (the paper's Figure 5)."""

    n_columns: Count = 8  # images per row
    # real images shown come from these splits
    real_splits: list[Split] = Field(default=["test"], min_length=1)
    seed: Int = 0  # which real images are shown


class SynthesisParams(SamplingParams):
    """N images per generator, where the generators come from, how they are shared, the grid."""

    n_images: Count = 64  # per architecture; FID/precision/recall want >= 10000 (docs/metrics.md)
    # architecture -> MLflow model URI to sample instead of the catalog generator (null = catalog)
    model_uri: dict[str, str | None] = {}
    # MLflow Model Registry name for each logged generator ("{architecture}" filled in); null = none
    registered_model_name: str | None = None
    grid: GridParams = GridParams()

    @field_validator("model_uri")
    @classmethod
    def _known_architectures(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        unknown = sorted(set(value) - set(ARCHITECTURES))
        if unknown:
            raise ValueError(f"unknown architectures {unknown}; valid: {list(ARCHITECTURES)}")
        return value
