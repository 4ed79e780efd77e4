"""k-NN manifold metrics on features: precision/recall (Kynkäänniemi et al. 2019, "Improved
Precision and Recall Metric for Assessing Generative Models", k=3) and density/coverage (Naeem
et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models", k=5).

With r_k(x) the distance from x to its k-th nearest neighbour in its own set (itself excluded),
real features X (N) and fake features Y (M):

    precision = 1/M sum_j 1[exists i: ||y_j - x_i|| < r_3(x_i)]            (fidelity)
    recall    = 1/N sum_i 1[exists j: ||x_i - y_j|| < r_3(y_j)]            (diversity)
    density   = 1/(5M) sum_j sum_i 1[||y_j - x_i|| < r_5(x_i)]             (fidelity, unbounded)
    coverage  = 1/N sum_i 1[min_j ||x_i - y_j|| < r_5(x_i)]                (diversity)

Strict inequalities as in Naeem et al.'s reference code (``prdc``). The fake set is streamed
against the real set in chunks: memory is one (chunk x N) distance block.

Every distance here is computed in the exact, bit-symmetric form (``neighbours.EXACT``): a
radius r_k(x_i) and the same pair's distance in the fake-vs-real block are then the same float,
so an exact duplicate sits exactly on the ball's boundary and is not counted (with
``torch.cdist``'s matrix-multiply form it sometimes was: density 1.0015-1.0035 instead of 1 on
identical sets). It costs ~15x the distance time (2,000 x 2,000 x 544-d: ~2 s instead of 0.13 s
per block on one core), small next to feature extraction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from cxr_synth.metrics.neighbours import as_tensor, nearest_neighbours, pairwise_distances

PRDC_MIN_SAMPLES = 10_000  # Naeem et al. 2020 evaluate with 10k real and 10k fake samples


@dataclass(frozen=True)
class PRDCResult:
    precision: float
    recall: float
    density: float
    coverage: float
    k_pr: int
    k_dc: int
    warnings: list[str] = field(default_factory=list)


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance of every row to its k-th nearest other row of the same set."""
    distances, _ = nearest_neighbours(features, features, k, exclude_self=True, exact=True)
    return distances[:, k - 1]


def prdc(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    *,
    k_pr: int = 3,
    k_dc: int = 5,
    chunk: int = 1024,
    label_suffix: str = "",
) -> PRDCResult:
    """Precision, recall (k=``k_pr``), density and coverage (k=``k_dc``) of fake vs real."""
    real = as_tensor(real_features)
    fake = as_tensor(fake_features)
    n_real, n_fake = real.shape[0], fake.shape[0]
    if min(n_real, n_fake) <= max(k_pr, k_dc):
        raise ValueError(f"need more than {max(k_pr, k_dc)} samples per set")
    k_max = max(k_pr, k_dc)
    real_knn, _ = nearest_neighbours(real, real, k_max, exclude_self=True, exact=True)
    real_r_pr = torch.from_numpy(real_knn[:, k_pr - 1])
    real_r_dc = torch.from_numpy(real_knn[:, k_dc - 1])
    fake_r_pr = torch.from_numpy(knn_radii(fake.numpy(), k_pr))

    precise = torch.zeros(n_fake, dtype=torch.bool)
    density_hits = 0
    recalled = torch.zeros(n_real, dtype=torch.bool)
    nearest_fake = torch.full((n_real,), float("inf"), dtype=torch.float64)
    for start in range(0, n_fake, chunk):
        d = pairwise_distances(fake[start : start + chunk], real, exact=True)  # (c, N)
        precise[start : start + chunk] = (d < real_r_pr).any(dim=1)
        density_hits += int((d < real_r_dc).sum())
        recalled |= (d < fake_r_pr[start : start + chunk].unsqueeze(1)).any(dim=0)
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)

    notes = []
    if min(n_real, n_fake) < PRDC_MIN_SAMPLES:
        notes.append(
            f"precision/recall/density/coverage{label_suffix} from n_real={n_real}, "
            f"n_fake={n_fake} (< {PRDC_MIN_SAMPLES}): k-NN radii shrink as N grows, so values "
            f"depend on N; compare only at equal N."
        )
    return PRDCResult(
        precision=float(precise.double().mean()),
        recall=float(recalled.double().mean()),
        density=density_hits / (k_dc * n_fake),
        coverage=float((nearest_fake < real_r_dc).double().mean()),
        k_pr=k_pr,
        k_dc=k_dc,
        warnings=notes,
    )
