"""The ``evaluation`` parameters (conf/base/parameters_evaluation.yml); docs/metrics.md defines
every metric they configure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, model_validator

from cxr_synth.metrics.params import FeatureParams
from cxr_synth.runtime.schema import Count, Float, Int, Split

if TYPE_CHECKING:
    from cxr_synth.metrics.options import MetricOptions


class EvaluationParams(FeatureParams):
    """Every metric of the synthetic images against the real ones."""

    # what the GANs learned from: reference and training sets
    real_splits: list[Split] = Field(default=["train"], min_length=1)
    # patient-disjoint, never trained on: baseline and memorization audit
    heldout_splits: list[Split] = Field(default=["val", "test"], min_length=1)
    n_real: Count | None = None  # seeded cap on the reference set; null = all
    n_heldout: Count | None = None  # seeded cap on the held-out set; null = all
    kid_subset_size: Count = 1000  # capped at min(N, M) / 2
    kid_subsets: Count = 100  # random subsets KID is averaged over
    k_pr: Count = 3  # Kynkäänniemi et al. 2019
    k_dc: Count = 5  # Naeem et al. 2020
    nn_candidates: Count = 5  # L2 candidates searched for the SSIM-nearest training image
    ms_ssim_pairs: Count = 200  # random pairs per set for MS-SSIM diversity (paper: 1000)
    # real-to-real distance percentile below which a sample counts as memorized
    memorization_percentile: Annotated[Float, Field(gt=0.0, lt=100.0)] = 1.0
    closest_pairs: Count = 8  # pairs shown in <arch>_closest_pairs
    # named held-out sets the verdicts measure against, e.g. {val: [val], test: [test]} or one
    # per hospital; {} = one set, "heldout", of heldout_splits
    heldout_sets: dict[str, list[Split]] = {}
    # bootstrap resamples of every held-out set (and of the synthetic images) behind the
    # verdicts' intervals (docs/metrics.md "Verdicts"); 0 = no verdicts
    resamples: Annotated[Int, Field(ge=0)] = 50

    @model_validator(mode="after")
    def _disjoint(self) -> EvaluationParams:
        sets = {"heldout_splits": self.heldout_splits} | {
            f"heldout_sets.{name}": splits for name, splits in self.heldout_sets.items()
        }
        for key, splits in sets.items():
            shared = sorted(set(self.real_splits) & set(splits))
            if shared:
                raise ValueError(
                    f"real_splits and {key} share {shared}: held-out images must never "
                    "have been trained on"
                )
            if not splits:
                raise ValueError(f"{key} is empty: list the manifest splits it holds")
        return self

    def metric_options(self) -> MetricOptions:
        """The metric suite's settings (``cxr_synth.metrics.MetricOptions``) from this section."""
        from cxr_synth.metrics.options import MetricOptions

        fields = MetricOptions.__dataclass_fields__
        return MetricOptions(**{name: getattr(self, name) for name in fields})

    def named_heldout_sets(self) -> dict[str, list[str]]:
        """``heldout_sets``, or the one set ``heldout`` of ``heldout_splits``."""
        return dict(self.heldout_sets) or {"heldout": list(self.heldout_splits)}
