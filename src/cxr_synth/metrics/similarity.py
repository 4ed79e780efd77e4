"""Pixel similarity of synthetic images to real ones (SSIM, PSNR) and within-set diversity
(mean pairwise MS-SSIM).

- ``nearest_real_similarity``: for each synthetic image, the k nearest training images by L2
  distance of area-downsampled pixels (``search_size``², default 32²) are candidates; exact
  SSIM (Wang et al. 2004: Gaussian window 11, sigma 1.5, K1=0.01, K2=0.03, data range 255) is
  computed on those k and the best is kept; PSNR = 10 log10(255^2 / MSE) against that same
  image. High values mean a synthetic image resembles one training image closely.
- ``ms_ssim_diversity``: mean MS-SSIM (Wang et al. 2003) over random pairs within one set.
  Higher = less diverse; a synthetic set well above the real set's value suggests mode collapse
  (the use in Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs").

MS-SSIM's 5 scales need images of at least 176 px with an 11-px window; smaller images use fewer
scales (``ms_ssim_scales``: 64 px -> 3, 128 px -> 4, 256 px -> 5) with the first standard
weights renormalised to sum to 1. Values are therefore comparable only at equal resolution (real
and synthetic sets are always compared at the same one).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from cxr_synth.metrics.features import ImageBatches, iter_batches, to_uint8_images
from cxr_synth.metrics.neighbours import nearest_neighbours, nearest_neighbours_streamed

__all__ = [
    "DiversityResult",
    "SimilarityResult",
    "ms_ssim_betas",
    "ms_ssim_diversity",
    "ms_ssim_scales",
    "nearest_neighbours",
    "nearest_real_similarity",
    "pixel_vectors",
    "ssim_psnr",
]

DATA_RANGE = 255.0
SSIM_KERNEL = 11
SSIM_SIGMA = 1.5
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003
MS_SSIM_MIN_PAIRS = 1000


@dataclass(frozen=True)
class SimilarityResult:
    """Per synthetic image: best SSIM to a training image, PSNR to that image, its index."""

    ssim: np.ndarray
    psnr: np.ndarray
    nearest_index: np.ndarray
    candidates: int

    @property
    def n_exact_copies(self) -> int:
        """Synthetic images identical to a training image (PSNR = inf)."""
        return int(np.isinf(self.psnr).sum())

    def summary(self) -> dict[str, float]:
        """Mean and std of SSIM and PSNR; PSNR statistics exclude exact copies (PSNR = inf),
        which are counted separately in ``n_exact_copies``."""
        finite = self.psnr[np.isfinite(self.psnr)]
        return {
            "ssim_nn_mean": float(self.ssim.mean()),
            "ssim_nn_std": float(self.ssim.std()),
            "psnr_nn_mean": float(finite.mean()) if finite.size else float("inf"),
            "psnr_nn_std": float(finite.std()) if finite.size else float("nan"),
            "n_exact_copies": float(self.n_exact_copies),
        }


@dataclass(frozen=True)
class DiversityResult:
    """Mean and std of MS-SSIM over ``num_pairs`` random pairs of distinct indices."""

    mean: float
    std: float
    num_pairs: int
    scales: int
    warnings: list[str] = field(default_factory=list)


def pixel_vectors(
    images: np.ndarray | torch.Tensor, size: int = 32, standardize: bool = False
) -> torch.Tensor:
    """Flattened, area-downsampled pixels (N, s*s) float32 with s = min(size, image side).

    ``standardize`` makes every vector zero-mean and unit-variance (population std), so that
    ||a - b||^2 = 2 s^2 (1 - Pearson correlation of a and b). Converted 1024 images at a time.
    """
    chunks = [_downsample(batch, size, standardize) for batch in iter_batches(images, 1024)]
    return torch.cat(chunks) if chunks else torch.zeros(0, size * size)


def _downsample(batch: torch.Tensor, size: int, standardize: bool) -> torch.Tensor:
    x = batch.float()
    side = min(size, x.shape[-1])
    if x.shape[-1] != side or x.shape[-2] != side:
        x = F.interpolate(x, size=(side, side), mode="area")
    v = x.flatten(1)
    if standardize:
        v = v - v.mean(dim=1, keepdim=True)
        v = v / v.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-6)
    return v


def pixel_chunks(
    images: ImageBatches, size: int, standardize: bool = False, chunk: int = 4096
) -> Iterator[torch.Tensor]:
    """``pixel_vectors`` of ``images`` chunk by chunk (memory-mapped arrays stay on disk)."""
    for batch in iter_batches(images, chunk):
        yield _downsample(batch, size, standardize)


def ssim_psnr(
    a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair SSIM and PSNR (dB) of two equally shaped uint8 image batches (data range 255)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    x = to_uint8_images(a).float()
    y = to_uint8_images(b).float()
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    ssim = structural_similarity_index_measure(
        x, y, gaussian_kernel=True, sigma=SSIM_SIGMA, kernel_size=SSIM_KERNEL,
        reduction="none", data_range=DATA_RANGE,
    )  # fmt: skip
    mse = (x.double() - y.double()).pow(2).mean(dim=(1, 2, 3))
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(DATA_RANGE**2 / mse.numpy())
    return ssim.double().numpy(), psnr


def _take(images: np.ndarray | torch.Tensor, index: np.ndarray) -> np.ndarray | torch.Tensor:
    """Rows ``index`` of an array/tensor (memory-mapped arrays read only those rows)."""
    if torch.is_tensor(images):
        return images[torch.from_numpy(np.asarray(index))]
    order = np.argsort(index)
    rows = np.asarray(images[np.asarray(index)[order]])
    out = np.empty_like(rows)
    out[order] = rows
    return out


def nearest_real_similarity(
    fake: np.ndarray | torch.Tensor,
    train: np.ndarray | torch.Tensor,
    *,
    k: int = 5,
    search_size: int = 32,
    batch_size: int = 256,
) -> SimilarityResult:
    """SSIM and PSNR of each synthetic image against its nearest real training image.

    Candidates: the ``k`` nearest training images by L2 of ``search_size``² area-downsampled
    pixels (exact search, chunked); the nearest image is the candidate with the highest exact
    SSIM at full resolution, and PSNR is computed against that same image.
    """
    fake_u8 = to_uint8_images(fake)
    if tuple(np.shape(train)[-2:]) != tuple(fake_u8.shape[-2:]):
        raise ValueError(f"image sizes differ: {tuple(np.shape(train))} vs {tuple(fake_u8.shape)}")
    k = min(k, len(train))
    _, candidates = nearest_neighbours_streamed(
        pixel_vectors(fake_u8, search_size), pixel_chunks(train, search_size), k
    )
    n = fake_u8.shape[0]
    best_ssim, best_psnr = np.empty(n), np.empty(n)
    best_index = np.empty(n, dtype=np.int64)
    step = max(1, batch_size // k)
    for start in range(0, n, step):
        stop = min(start + step, n)
        cand = candidates[start:stop]  # (c, k)
        query = fake_u8[start:stop].repeat_interleave(k, dim=0)
        ssim, psnr = ssim_psnr(query, _take(train, cand.reshape(-1)))
        ssim, psnr = ssim.reshape(-1, k), psnr.reshape(-1, k)
        pick = ssim.argmax(axis=1)
        rows = np.arange(stop - start)
        best_ssim[start:stop] = ssim[rows, pick]
        best_psnr[start:stop] = psnr[rows, pick]
        best_index[start:stop] = cand[rows, pick]
    return SimilarityResult(best_ssim, best_psnr, best_index, k)


def ms_ssim_scales(side: int, kernel_size: int = SSIM_KERNEL) -> int:
    """Most MS-SSIM scales (<= 5) that images of ``side`` px support with this window.

    Each scale halves the image; the coarsest must still hold the window, and torchmetrics
    additionally requires side // max(1, scales - 1)^2 > kernel_size - 1.
    """
    for scales in range(len(MS_SSIM_BETAS), 0, -1):
        coarsest = side // 2 ** (scales - 1)
        if (
            coarsest >= kernel_size
            and side >= 2**scales
            and side // max(1, scales - 1) ** 2 > kernel_size - 1
        ):
            return scales
    raise ValueError(f"images of {side} px are too small for a {kernel_size}-px SSIM window")


def ms_ssim_betas(side: int) -> tuple[float, ...]:
    """The standard 5 weights for 5 scales; else the first ``ms_ssim_scales(side)`` renormalised."""
    scales = ms_ssim_scales(side)
    if scales == len(MS_SSIM_BETAS):
        return MS_SSIM_BETAS
    head = MS_SSIM_BETAS[:scales]
    return tuple(b / sum(head) for b in head)


def ms_ssim_diversity(
    images: np.ndarray | torch.Tensor,
    *,
    num_pairs: int = MS_SSIM_MIN_PAIRS,
    seed: int = 0,
    batch_size: int = 128,
    label: str = "ms_ssim",
) -> DiversityResult:
    """Mean pairwise MS-SSIM within one set over ``num_pairs`` seeded random pairs (i != j)."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    n = len(images)
    if n < 2:
        raise ValueError("MS-SSIM diversity needs at least 2 images")
    side = int(np.shape(images)[-1])
    betas = ms_ssim_betas(side)
    rng = np.random.default_rng(seed)
    first = rng.integers(0, n, num_pairs)
    second = (first + rng.integers(1, n, num_pairs)) % n  # uniform over the other images
    values = []
    for start in range(0, num_pairs, batch_size):
        a = to_uint8_images(_take(images, first[start : start + batch_size])).float()
        b = to_uint8_images(_take(images, second[start : start + batch_size])).float()
        values.append(
            multiscale_structural_similarity_index_measure(
                a, b, gaussian_kernel=True, sigma=SSIM_SIGMA, kernel_size=SSIM_KERNEL,
                reduction="none", data_range=DATA_RANGE, betas=betas, normalize="relu",
            ).double().numpy()
        )  # fmt: skip
    v = np.concatenate(values)
    notes = []
    if num_pairs < MS_SSIM_MIN_PAIRS:
        notes.append(f"{label}: only {num_pairs} pairs (< {MS_SSIM_MIN_PAIRS}); the mean is noisy.")
    if len(betas) < len(MS_SSIM_BETAS):
        notes.append(
            f"{label}: {side}-px images allow {len(betas)} of MS-SSIM's 5 scales (weights "
            f"renormalised); values are comparable only at this resolution."
        )
    return DiversityResult(float(v.mean()), float(v.std()), num_pairs, len(betas), notes)
