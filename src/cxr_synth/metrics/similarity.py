"""Pixel similarity of synthetic images to real ones (SSIM, PSNR) and within-set diversity
(mean pairwise MS-SSIM).

- ``nearest_real_similarity``: for each synthetic image, the k nearest training images by L2
  distance of area-downsampled pixels (``search_size``², default 32²) are candidates; SSIM
  (Wang et al. 2004: Gaussian window 11, sigma 1.5, K1=0.01, K2=0.03, data range 255, valid
  windows) is computed on those k and the best is kept; PSNR = 10 log10(255^2 / MSE) against that same
  image. High values mean a synthetic image resembles one training image closely.
- ``ms_ssim_diversity``: mean MS-SSIM (Wang et al. 2003) over random pairs within one set.
  Higher = less diverse; a synthetic set well above the real set's value suggests mode collapse
  (the use in Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs").

SSIM is computed as Wang et al. define it and as scikit-image's ``structural_similarity``
(``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255``) does: local
statistics under an 11x11 Gaussian window (sigma 1.5, the window truncated at 5 px and normalised)
in float64, and the SSIM map averaged over the **valid** windows only, those that lie wholly
inside the image ((H - 10) x (W - 10) of them). torchmetrics 1.9 averages over every pixel,
mirror-padding the border (its PR #2721 removed the crop): at 64 px 29 % of its windows are border
windows and per-pair values differ from the definition by up to ~0.09; it is not used here.

MS-SSIM (Wang et al. 2003, as in their reference code): at each scale the mean contrast-structure
term over valid windows, at the coarsest scale the mean SSIM; 2x2 average pooling between scales;
MS-SSIM = SSIM_M^b_M * prod_{j<M} cs_j^b_j, each term clipped at 0 first (a negative term to a
fractional power has no real value). The 5 scales need images of at least 176 px with an 11-px
window; smaller images use as many scales as still hold one valid window (``ms_ssim_scales``:
32 px -> 2, 64 px -> 3, 128 px -> 4, 256 px -> 5) with the first standard weights renormalised
to sum to 1. Values are therefore comparable only at equal resolution (real and synthetic sets
are always compared at the same one).
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
    "ms_ssim",
    "ms_ssim_betas",
    "ms_ssim_diversity",
    "ms_ssim_scales",
    "nearest_neighbours",
    "nearest_real_similarity",
    "pixel_vectors",
    "ssim",
    "ssim_psnr",
    "ssim_terms",
]

DATA_RANGE = 255.0
SSIM_KERNEL = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_CHUNK_PIXELS = 2**22  # pixels per float64 SSIM chunk (~0.2 GB of moments)
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


def _gaussian_window(size: int = SSIM_KERNEL, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The normalised 1-D Gaussian (float64) of ``size`` taps; the 2-D window is its outer product."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _valid_filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable filter of (..., H, W) float64 by ``window``, valid positions only (no padding).

    As two banded matrix products, (H-k+1, H) @ x @ (W, W-k+1): float64 BLAS, much faster on a
    CPU than a float64 convolution; the same sums up to rounding order.
    """
    return _band(window, x.shape[-2]) @ x @ _band(window, x.shape[-1]).T


def _band(window: torch.Tensor, size: int) -> torch.Tensor:
    """(size - k + 1, size): row i holds ``window`` at columns i .. i + k - 1."""
    k = window.numel()
    band = torch.zeros(size - k + 1, size, dtype=window.dtype)
    for row in range(size - k + 1):
        band[row, row : row + k] = window
    return band


def ssim_terms(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair, the mean over valid windows of the SSIM map and of its contrast-structure part.

    ``x``, ``y``: (N, 1, H, W) in grey levels 0..255, H and W >= the window. Local means,
    variances and covariance are Gaussian-weighted population moments (Wang et al. 2004; scikit-
    image with ``use_sample_covariance=False``); C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2.
    """
    window = _gaussian_window()
    if min(x.shape[-2:]) < window.numel():
        raise ValueError(
            f"images of {tuple(x.shape[-2:])} px are smaller than the {window.numel()}-px SSIM "
            "window"
        )
    step = max(1, SSIM_CHUNK_PIXELS // (x.shape[-2] * x.shape[-1]))  # bounded float64 memory
    parts = [_ssim_chunk(x[i : i + step], y[i : i + step], window) for i in range(0, len(x), step)]
    if not parts:
        empty = torch.zeros(0, dtype=torch.float64)
        return empty, empty
    full, cs = zip(*parts, strict=True)
    return torch.cat(full), torch.cat(cs)


def _ssim_chunk(
    x: torch.Tensor, y: torch.Tensor, window: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = x.double(), y.double()
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    moments = _valid_filter(torch.cat([x, y, x * x, y * y, x * y], dim=1), window)  # (n, 5, ..)
    mu_x, mu_y, xx, yy, xy = moments.unbind(dim=1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (luminance * cs_map).mean(dim=(1, 2)), cs_map.mean(dim=(1, 2))


def ssim(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-pair SSIM (float64) of two equally shaped uint8 image batches, valid windows only."""
    x, y = to_uint8_images(a), to_uint8_images(b)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    return ssim_terms(x, y)[0].numpy()


def ms_ssim(
    a: np.ndarray | torch.Tensor,
    b: np.ndarray | torch.Tensor,
    betas: tuple[float, ...] | None = None,
) -> np.ndarray:
    """Per-pair MS-SSIM (float64) of two equally shaped uint8 batches (module doc).

    ``betas``: one weight per scale, default ``ms_ssim_betas(side)``; every scale must still hold
    one valid window.
    """
    x, y = to_uint8_images(a).double(), to_uint8_images(b).double()
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    betas = ms_ssim_betas(min(x.shape[-2:])) if betas is None else tuple(betas)
    coarsest = min(x.shape[-2:]) // 2 ** (len(betas) - 1)
    if coarsest < SSIM_KERNEL:
        raise ValueError(
            f"{len(betas)} MS-SSIM scales leave {coarsest} px at the coarsest scale, less than "
            f"the {SSIM_KERNEL}-px window; use ms_ssim_betas({min(x.shape[-2:])})"
        )
    value = torch.ones(x.shape[0], dtype=torch.float64)
    for scale, beta in enumerate(betas):
        if scale:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        full, cs = ssim_terms(x, y)
        term = full if scale == len(betas) - 1 else cs
        value = value * term.clamp_min(0.0) ** beta
    return value.numpy()


def ssim_psnr(
    a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair SSIM (valid windows, module doc) and PSNR (dB) of two equally shaped uint8
    image batches (data range 255)."""
    x = to_uint8_images(a)
    y = to_uint8_images(b)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    similarity = ssim_terms(x, y)[0].numpy()
    mse = (x.double() - y.double()).pow(2).mean(dim=(1, 2, 3))
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(DATA_RANGE**2 / mse.numpy())
    return similarity, psnr


def _gather(images: np.ndarray | torch.Tensor, index: np.ndarray) -> np.ndarray | torch.Tensor:
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
        ssim, psnr = ssim_psnr(query, _gather(train, cand.reshape(-1)))
        ssim, psnr = ssim.reshape(-1, k), psnr.reshape(-1, k)
        pick = ssim.argmax(axis=1)
        rows = np.arange(stop - start)
        best_ssim[start:stop] = ssim[rows, pick]
        best_psnr[start:stop] = psnr[rows, pick]
        best_index[start:stop] = cand[rows, pick]
    return SimilarityResult(best_ssim, best_psnr, best_index, k)


def ms_ssim_scales(side: int, kernel_size: int = SSIM_KERNEL) -> int:
    """Most MS-SSIM scales (<= 5) that images of ``side`` px support with this window.

    Each scale halves the image (2x2 average pooling); the coarsest must still hold one whole
    window (a valid SSIM position).
    """
    for scales in range(len(MS_SSIM_BETAS), 0, -1):
        if side // 2 ** (scales - 1) >= kernel_size:
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
        a = _gather(images, first[start : start + batch_size])
        b = _gather(images, second[start : start + batch_size])
        values.append(ms_ssim(a, b, betas))
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
