"""Every setting of the metric suite in one object (the shape of stylegan2-ada's
``metric_main``: the caller builds it once, each metric reads its own fields).

Adding a metric: its function (one module), a field here for each of its settings, and the same
field in ``evaluation`` (``pipelines/evaluation/params.py``), which builds this object.
"""

from __future__ import annotations

import dataclasses

from cxr_synth.metrics.kid import KID_NUM_SUBSETS, KID_SUBSET_SIZE


@dataclasses.dataclass(frozen=True)
class MetricOptions:
    """Settings of every metric of ``distribution_metrics`` and ``evaluate_generator_samples``."""

    batch_size: int = 64  # images per feature-network forward pass
    kid_subset_size: int = KID_SUBSET_SIZE  # capped at min(N, M) / 2
    kid_subsets: int = KID_NUM_SUBSETS
    k_pr: int = 3  # precision/recall (Kynkäänniemi et al. 2019)
    k_dc: int = 5  # density/coverage (Naeem et al. 2020)
    nn_candidates: int = 5  # L2 candidates searched for the SSIM-nearest training image
    ms_ssim_pairs: int = 1000  # random pairs per set for MS-SSIM diversity
    memorization_percentile: float = 1.0  # real-to-real distance percentile for "memorized"
    seed: int = 0  # KID subsets and MS-SSIM pairs

    def replace(self, **changes: object) -> MetricOptions:
        return dataclasses.replace(self, **changes)
