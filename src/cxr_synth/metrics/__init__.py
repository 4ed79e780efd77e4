"""Evaluation metrics for synthetic grayscale chest X-rays (pure torch/torchmetrics, no Kedro).

Images are uint8 (N, H, W) or (N, 1, H, W), or float in [-1, 1] from a generator
(``to_uint8_images``). Distribution metrics run on the features of a backbone
(``build_backbone``): Inception-v3 for real FID, or the offline random network, whose values are
labelled ``FD_rand``/``KID_rand``/... and are never called FID. See docs/metrics.md.
"""

from cxr_synth.metrics.evaluate import distribution_metrics, evaluate_generator_samples
from cxr_synth.metrics.features import (
    FeatureBackbone,
    InceptionBackbone,
    RandomConvBackbone,
    backbone_label,
    build_backbone,
    extract_features,
    iter_batches,
    to_uint8_images,
)
from cxr_synth.metrics.fid import (
    FeatureStats,
    FeatureStatsAccumulator,
    feature_stats,
    fid_from_samples,
    fid_warnings,
    frechet_distance,
    stats_from_features,
    trace_sqrt_product,
)
from cxr_synth.metrics.inception_weights import (
    INCEPTION_WEIGHTS_ENV,
    INCEPTION_WEIGHTS_FILE,
    INCEPTION_WEIGHTS_SHA256_PREFIX,
    INCEPTION_WEIGHTS_URL,
    InceptionWeightsMismatch,
    InceptionWeightsParams,
    InceptionWeightsUnavailable,
    default_inception_weights_path,
    locate_inception_weights,
    verify_inception_weights,
)
from cxr_synth.metrics.kid import KIDResult, kernel_inception_distance, polynomial_mmd2_unbiased
from cxr_synth.metrics.memorization import MemorizationResult, memorization_audit
from cxr_synth.metrics.neighbours import nearest_neighbours, nearest_neighbours_streamed
from cxr_synth.metrics.precision_recall import PRDCResult, knn_radii, prdc
from cxr_synth.metrics.similarity import (
    DiversityResult,
    SimilarityResult,
    ms_ssim_betas,
    ms_ssim_diversity,
    ms_ssim_scales,
    nearest_real_similarity,
    pixel_vectors,
    ssim_psnr,
)

__all__ = [
    "INCEPTION_WEIGHTS_ENV",
    "INCEPTION_WEIGHTS_FILE",
    "INCEPTION_WEIGHTS_SHA256_PREFIX",
    "INCEPTION_WEIGHTS_URL",
    "DiversityResult",
    "FeatureBackbone",
    "FeatureStats",
    "FeatureStatsAccumulator",
    "InceptionBackbone",
    "InceptionWeightsMismatch",
    "InceptionWeightsUnavailable",
    "KIDResult",
    "MemorizationResult",
    "PRDCResult",
    "RandomConvBackbone",
    "SimilarityResult",
    "backbone_label",
    "build_backbone",
    "default_inception_weights_path",
    "distribution_metrics",
    "evaluate_generator_samples",
    "extract_features",
    "feature_stats",
    "fid_from_samples",
    "fid_warnings",
    "frechet_distance",
    "iter_batches",
    "kernel_inception_distance",
    "knn_radii",
    "locate_inception_weights",
    "memorization_audit",
    "ms_ssim_betas",
    "ms_ssim_diversity",
    "ms_ssim_scales",
    "nearest_neighbours",
    "nearest_neighbours_streamed",
    "nearest_real_similarity",
    "pixel_vectors",
    "polynomial_mmd2_unbiased",
    "prdc",
    "ssim_psnr",
    "stats_from_features",
    "to_uint8_images",
    "trace_sqrt_product",
    "verify_inception_weights",
    "InceptionWeightsParams",
]
