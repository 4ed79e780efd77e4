"""Evaluation metrics for synthetic grayscale chest X-rays (pure torch/torchmetrics, no Kedro).

Images are uint8 (N, H, W) or (N, 1, H, W), or float in [-1, 1] from a generator
(``to_uint8_images``). Distribution metrics run on the features of a backbone
(``build_backbone``): Inception-v3 for real FID, or the offline random network, whose values are
labelled ``FD_rand``/``KID_rand``/... and are never called FID. See docs/metrics.md.

Names load on first use (``cxr_synth.runtime.lazy``): the parameter models import
``cxr_synth.metrics.inception_weights`` without torch.
"""

from cxr_synth.runtime.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "features": [
            "FeatureBackbone",
            "InceptionBackbone",
            "RandomConvBackbone",
            "backbone_label",
            "build_backbone",
            "extract_features",
            "iter_batches",
            "to_uint8_images",
        ],
        "fid": [
            "FeatureStats",
            "FeatureStatsAccumulator",
            "feature_stats",
            "fid_from_samples",
            "fid_warnings",
            "frechet_distance",
            "stats_from_features",
            "trace_sqrt_product",
        ],
        "inception_weights": [
            "INCEPTION_WEIGHTS_ENV",
            "INCEPTION_WEIGHTS_FILE",
            "INCEPTION_WEIGHTS_SHA256_PREFIX",
            "INCEPTION_WEIGHTS_URL",
            "InceptionWeightsMismatch",
            "InceptionWeightsParams",
            "InceptionWeightsUnavailable",
            "default_inception_weights_path",
            "locate_inception_weights",
            "verify_inception_weights",
        ],
        "kid": ["KIDResult", "kernel_inception_distance", "polynomial_mmd2_unbiased"],
        "memorization": ["MemorizationResult", "memorization_audit"],
        "neighbours": ["nearest_neighbours", "nearest_neighbours_streamed"],
        "precision_recall": ["PRDCResult", "knn_radii", "prdc"],
        "similarity": [
            "DiversityResult",
            "SimilarityResult",
            "ms_ssim_betas",
            "ms_ssim_diversity",
            "ms_ssim_scales",
            "nearest_real_similarity",
            "pixel_vectors",
            "ssim_psnr",
        ],
        "options": ["MetricOptions"],
        "suite": ["distribution_metrics", "evaluate_generator_samples"],
    },
)
