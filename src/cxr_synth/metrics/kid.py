"""Kernel distance (KID; Bińkowski et al. 2018, "Demystifying MMD GANs").

Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 between random
subsets of real and fake features, averaged over subsets: mean +- std. Unlike FID it is
unbiased at any N, so small-N comparisons are fairer; its spread still grows as N shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from cxr_synth.metrics.neighbours import as_tensor

KID_SUBSET_SIZE = 1000  # Bińkowski et al. 2018 / torch-fidelity / torchmetrics default
KID_NUM_SUBSETS = 100
KERNEL_CACHE_ENTRIES = 4096**2  # up to 3 x 128 MiB of float64 kernel matrices


@dataclass(frozen=True)
class KIDResult:
    """KID mean and std (population std over subsets), with the subset design used."""

    mean: float
    std: float
    subset_size: int
    num_subsets: int
    warnings: list[str] = field(default_factory=list)


def _mmd2_from_kernels(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor) -> float:
    """Unbiased MMD^2 from the three kernel matrices of two equally sized samples."""
    m = k_xx.shape[0]
    within = k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()
    return float(within / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3) -> torch.Tensor:
    """k(a, b) = (a.b / d + 1)^degree for all row pairs."""
    return (x @ y.T / x.shape[1] + 1.0) ** degree


def polynomial_mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, degree: int = 3) -> float:
    """Unbiased MMD^2 of two equally sized samples under k(a, b) = (a.b / d + 1)^degree."""
    return _mmd2_from_kernels(
        polynomial_kernel(x, x, degree),
        polynomial_kernel(y, y, degree),
        polynomial_kernel(x, y, degree),
    )


def _subset_mmd2_from_full_kernels(
    real: torch.Tensor, fake: torch.Tensor, draws: list, degree: int
) -> np.ndarray:
    """Unbiased MMD^2 of every (real subset, fake subset) draw from the three full kernel
    matrices: a subset's kernel sum is w^T K w with w its 0/1 indicator, so all subsets cost one
    matrix product per kernel instead of three kernel evaluations each."""
    m = len(draws[0][0])
    w_x = torch.zeros(real.shape[0], len(draws), dtype=real.dtype)
    w_y = torch.zeros(fake.shape[0], len(draws), dtype=fake.dtype)
    for s, (ix, iy) in enumerate(draws):
        w_x[torch.from_numpy(ix), s] = 1.0
        w_y[torch.from_numpy(iy), s] = 1.0
    k_rr = polynomial_kernel(real, real, degree)
    k_ff = polynomial_kernel(fake, fake, degree)
    k_rf = polynomial_kernel(real, fake, degree)
    s_xx = (w_x * (k_rr @ w_x)).sum(0) - w_x.T @ k_rr.diagonal()
    s_yy = (w_y * (k_ff @ w_y)).sum(0) - w_y.T @ k_ff.diagonal()
    s_xy = (w_x * (k_rf @ w_y)).sum(0)
    return ((s_xx + s_yy) / (m * (m - 1)) - 2.0 * s_xy / (m * m)).numpy()


def kernel_inception_distance(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    *,
    subset_size: int = KID_SUBSET_SIZE,
    num_subsets: int = KID_NUM_SUBSETS,
    degree: int = 3,
    seed: int = 0,
    label: str = "KID",
) -> KIDResult:
    """KID between two (N, D) feature sets.

    Each of ``num_subsets`` draws takes ``s`` real and ``s`` fake rows without replacement
    (seeded), with ``s = min(subset_size, floor(min(n_real, n_fake) / 2))``: never the whole
    set, so the subsets differ and the std measures the estimator's spread (with s = N every
    subset would be the full set and the std would be 0). A warning is returned when
    ``s < subset_size``.
    """
    real = as_tensor(real_features)
    fake = as_tensor(fake_features)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: {real.shape[1]} vs {fake.shape[1]}")
    smallest = min(real.shape[0], fake.shape[0])
    size = min(subset_size, smallest // 2)
    if size < 2:
        raise ValueError(f"{label} needs at least 4 samples per set, got {smallest}")
    notes = []
    if size < subset_size:
        notes.append(
            f"{label}: subsets of {size} (< {subset_size}) because min(n_real, n_fake)={smallest}; "
            f"the std over subsets is larger than at the standard size; compare at equal N."
        )
    rng = np.random.default_rng(seed)
    draws = [
        (
            rng.choice(real.shape[0], size, replace=False),
            rng.choice(fake.shape[0], size, replace=False),
        )
        for _ in range(num_subsets)
    ]
    if max(real.shape[0], fake.shape[0]) ** 2 <= KERNEL_CACHE_ENTRIES:
        values = _subset_mmd2_from_full_kernels(real, fake, draws, degree)
    else:
        values = np.array(
            [polynomial_mmd2_unbiased(real[ix], fake[iy], degree) for ix, iy in draws]
        )
    return KIDResult(float(values.mean()), float(values.std()), size, num_subsets, notes)
