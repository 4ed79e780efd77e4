"""Fréchet distance between Gaussian fits of two feature sets (Heusel et al. 2017, "GANs
Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium").

    FD = ||mu_r - mu_g||^2 + Tr(S_r) + Tr(S_g) - 2 Tr((S_r S_g)^(1/2))

On Inception-v3 pool3 features this is FID; on the offline backbone it is FD_rand. The real
statistics are a small ``FeatureStats`` (mean, covariance, n, backbone id) computed once and
cached; fake statistics stream batch by batch, so memory is O(D^2) whatever the number of images.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cxr_synth.metrics.features import FeatureBackbone, ImageBatches, iter_batches

FID_MIN_SAMPLES = 10_000  # Chong & Forsyth 2020: FID is biased upwards at small N


@dataclass(frozen=True, eq=False)
class FeatureStats:
    """Mean (D,), covariance (D, D) (unbiased, n-1), sample count and backbone identifier of a
    feature set; ``resolution`` is the image side the features came from (None if unknown).

    ``to_dict``/``from_dict`` give plain numpy arrays (``np.savez``-able, no pickle).
    """

    mean: np.ndarray
    cov: np.ndarray
    n: int
    backbone: str
    resolution: int | None = None

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float64)
        cov = np.asarray(self.cov, dtype=np.float64)
        if mean.ndim != 1 or cov.shape != (mean.size, mean.size):
            raise ValueError(f"mean {mean.shape} and cov {cov.shape} do not match")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "n", int(self.n))

    def sqrt_cov(self) -> np.ndarray:
        """The PSD square root of ``cov``, computed once and kept (not serialised)."""
        root = self.__dict__.get("_sqrt_cov")
        if root is None:
            root = psd_sqrt(self.cov)
            object.__setattr__(self, "_sqrt_cov", root)
        return root

    def to_dict(self) -> dict[str, np.ndarray]:
        return {
            "mean": self.mean,
            "cov": self.cov,
            "n": np.asarray(self.n, dtype=np.int64),
            "backbone": np.asarray(self.backbone),
            "resolution": np.asarray(-1 if self.resolution is None else self.resolution),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureStats:
        resolution = int(np.asarray(data.get("resolution", -1)))
        return cls(
            mean=np.asarray(data["mean"]),
            cov=np.asarray(data["cov"]),
            n=int(np.asarray(data["n"])),
            backbone=str(np.asarray(data["backbone"])),
            resolution=None if resolution < 0 else resolution,
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write a ``.npz`` (no pickle)."""
        with open(path, "wb") as handle:
            np.savez(handle, **self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStats:
        with np.load(path, allow_pickle=False) as data:
            return cls.from_dict(data)


class FeatureStatsAccumulator:
    """Streaming mean/covariance of feature batches (Chan et al. pairwise update, float64).

    Merging centred scatter matrices avoids the cancellation of ``sum(x x^T) - n mu mu^T`` when
    the features' mean is large relative to their spread.
    """

    def __init__(self, backbone: str = "", resolution: int | None = None) -> None:
        self.backbone, self.resolution = backbone, resolution
        self.n = 0
        self.mean: np.ndarray | None = None
        self.scatter: np.ndarray | None = None

    def update(self, features: np.ndarray) -> None:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be (B, D), got {x.shape}")
        n_b = x.shape[0]
        if n_b == 0:
            return
        mean_b = x.mean(axis=0)
        centred = x - mean_b
        scatter_b = centred.T @ centred
        if self.mean is None or self.scatter is None:
            self.n, self.mean, self.scatter = n_b, mean_b, scatter_b
            return
        total = self.n + n_b
        delta = mean_b - self.mean
        self.scatter = self.scatter + scatter_b + np.outer(delta, delta) * (self.n * n_b / total)
        self.mean = self.mean + delta * (n_b / total)
        self.n = total

    def compute(self) -> FeatureStats:
        if self.n < 2 or self.mean is None or self.scatter is None:
            raise ValueError(f"need at least 2 samples for a covariance, have {self.n}")
        cov = self.scatter / (self.n - 1)
        return FeatureStats(self.mean, (cov + cov.T) / 2, self.n, self.backbone, self.resolution)


def stats_from_features(
    features: np.ndarray, backbone: str = "", resolution: int | None = None
) -> FeatureStats:
    """``FeatureStats`` of an (N, D) feature array."""
    acc = FeatureStatsAccumulator(backbone, resolution)
    acc.update(features)
    return acc.compute()


def feature_stats(
    backbone: FeatureBackbone, images: ImageBatches, batch_size: int = 64
) -> FeatureStats:
    """Stream ``images`` through ``backbone`` into ``FeatureStats`` (compute once for the real set)."""
    acc = FeatureStatsAccumulator(backbone.identifier)
    for batch in iter_batches(images, batch_size, progress=f"features ({backbone.name})"):
        _check_resolution(acc, batch.shape[-1])
        acc.update(backbone(batch).numpy())
    return acc.compute()


def _check_resolution(acc: FeatureStatsAccumulator, side: int) -> None:
    if acc.resolution is None:
        acc.resolution = int(side)
    elif acc.resolution != side:
        raise ValueError(f"mixed image sizes in one set: {acc.resolution} and {side}")


def _clip_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Zero eigenvalues at rounding level (|w| < D * eps * max|w|): a null direction of a
    rank-deficient covariance comes out as +-1e-16-ish, whose square root (1e-8) would add up."""
    tol = w.size * np.finfo(w.dtype).eps * max(float(np.abs(w).max(initial=0.0)), 1e-300)
    return np.where(w < tol, 0.0, w)


def psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (rounding-level eigenvalues zeroed)."""
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.sqrt(_clip_eigenvalues(w))) @ v.T


def trace_sqrt_product(
    cov_a: np.ndarray, cov_b: np.ndarray, sqrt_a: np.ndarray | None = None
) -> float:
    """Tr((A B)^(1/2)) for symmetric PSD A, B, via symmetric eigendecompositions.

    A B is similar to A^(1/2) B A^(1/2), which is symmetric PSD, so the trace is the sum of the
    square roots of its eigenvalues (those at rounding level zeroed): no complex sqrtm, no non-symmetric
    eigensolver, stable for the rank-deficient covariances of N < D samples. ``sqrt_a`` may pass a
    cached A^(1/2).
    """
    root_a = psd_sqrt(cov_a) if sqrt_a is None else sqrt_a
    middle = root_a @ cov_b @ root_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(_clip_eigenvalues(eigenvalues)).sum())


def frechet_distance(a: FeatureStats, b: FeatureStats, *, check_backbone: bool = True) -> float:
    """Fréchet distance between the Gaussians N(a.mean, a.cov) and N(b.mean, b.cov).

    Refuses statistics from different backbones or image sizes unless ``check_backbone=False``.
    Pass the cached real statistics as ``a``: their square root is computed once and reused.
    Rounding can make the exact-zero case a tiny negative number; the result is clipped at 0.
    """
    if check_backbone:
        if a.backbone != b.backbone:
            raise ValueError(
                f"statistics from different backbones: {a.backbone!r} vs {b.backbone!r}"
            )
        if a.resolution is not None and b.resolution is not None and a.resolution != b.resolution:
            raise ValueError(
                f"statistics from different image sizes: {a.resolution} vs {b.resolution}"
            )
    diff = a.mean - b.mean
    value = (
        diff @ diff
        + np.trace(a.cov)
        + np.trace(b.cov)
        - 2.0 * trace_sqrt_product(a.cov, b.cov, a.sqrt_cov())
    )
    return max(float(value), 0.0)


def fid_from_samples(
    real_stats: FeatureStats,
    backbone: FeatureBackbone,
    fake_images: ImageBatches,
    batch_size: int = 64,
) -> float:
    """Fréchet distance of ``fake_images`` (uint8, or float in [-1, 1]; an array or an iterable of
    batches) to cached ``real_stats``: the cheap call for the training loop's periodic evaluation.

    It is FID only when ``backbone.name == "FID"``; label the value with ``backbone.name``.
    """
    if real_stats.backbone != backbone.identifier:
        raise ValueError(
            f"real statistics were computed with {real_stats.backbone!r}, "
            f"not with this backbone ({backbone.identifier!r}): recompute them"
        )
    return frechet_distance(real_stats, feature_stats(backbone, fake_images, batch_size))


def fid_warnings(n_real: int, n_fake: int, num_features: int, label: str = "FID") -> list[str]:
    """Caveats a table of ``label`` values computed from these sample sizes must carry."""
    notes = []
    small = min(n_real, n_fake)
    if small < FID_MIN_SAMPLES:
        notes.append(
            f"{label} from n_real={n_real}, n_fake={n_fake} (< {FID_MIN_SAMPLES}): the estimate "
            f"is biased upwards and depends on N (Chong & Forsyth 2020); compare values only at "
            f"equal N, and report N."
        )
    if small <= num_features:
        notes.append(
            f"{label}: N={small} <= feature dimension {num_features}, so the covariance "
            f"estimates are rank-deficient; the value is dominated by estimation error."
        )
    return notes
