"""The feature-network parameters that the evaluation stage and the FID during training share."""

from __future__ import annotations

from typing import Literal

from cxr_synth.metrics.inception_weights import InceptionWeightsParams
from cxr_synth.runtime.schema import Count, Device, Int, StrictModel

Backbone = Literal["auto", "inception", "random"]


class FeatureParams(StrictModel):
    """Which feature network measures Fréchet distances, and where it runs (shared by the
    evaluation and the FID during training)."""

    backbone: Backbone = "auto"  # auto: Inception-V3 when its weights exist, else FD_rand
    inception_weights: InceptionWeightsParams = InceptionWeightsParams()
    device: Device = "auto"  # where the feature network runs; auto = cuda, else mps, else cpu
    seed: Int = 0  # seeded subsets, the random backbone and pair draws
    batch_size: Count = 64  # images per feature-network forward pass

    def backbone_kwargs(self) -> dict:
        """``build_backbone`` keywords (device resolved by the caller)."""
        return {"seed": self.seed, **self.inception_weights.backbone_kwargs()}
