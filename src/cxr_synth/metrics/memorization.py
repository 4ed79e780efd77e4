"""Memorization audit: are synthetic images closer to the training set than new real images are?

For every synthetic image, d_fake = distance to its nearest training image; for every held-out
real image (same distribution, never trained on), d_held = distance to its nearest training
image. With tau = the ``percentile``-th (default 1st) percentile of d_held, a generator that
samples fresh images from the data distribution has about ``percentile`` % of its samples
below tau; a generator that copies training images has many more. Reported:

    memorization_fraction = 1/M sum_j 1[d_fake_j < tau]   (expected ~0.01 without copying)
    nn_distance_ratio     = median(d_fake) / median(d_held)   (< 1: closer than real data is)

plus the closest (synthetic, training) index pairs, for a side-by-side figure made elsewhere.

Default space: pixels, area-downsampled to 64x64 and standardised per image, so that
||a - b||^2 = 2 * 64^2 * (1 - r) with r the Pearson correlation of the two images. A copy is a
pixel-level event (the same patient's anatomy, at the same place), and correlation ignores the
global brightness/contrast shifts GANs add; features of ImageNet-trained or random networks are
built to be invariant to exactly the details that identify one radiograph, and place every chest
X-ray close to every other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cxr_synth.metrics.features import ImageBatches
from cxr_synth.metrics.neighbours import nearest_neighbours_streamed
from cxr_synth.metrics.similarity import pixel_chunks, pixel_vectors

MEMORIZATION_MIN_HELDOUT = 1000  # the 1st percentile then rests on >= 10 held-out images


@dataclass(frozen=True)
class MemorizationResult:
    fraction: float  # synthetic images with d < threshold
    expected_fraction: float  # what fresh samples give: percentile / 100
    threshold: float
    percentile: float
    distance_ratio: float  # median(d_fake) / median(d_heldout)
    fake_distance: np.ndarray  # (M,) nearest-training-image distance of every synthetic image
    fake_nearest: np.ndarray  # (M,) index of that training image
    heldout_distance: np.ndarray  # (H,)
    closest_pairs: np.ndarray  # (P, 2) [synthetic index, training index], closest first
    closest_distances: np.ndarray  # (P,)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {
            "memorization_fraction": self.fraction,
            "memorization_expected": self.expected_fraction,
            "memorization_threshold": self.threshold,
            "nn_distance_ratio": self.distance_ratio,
        }


def memorization_audit(
    train: ImageBatches | np.ndarray,
    heldout: ImageBatches | np.ndarray,
    fake: ImageBatches | np.ndarray,
    *,
    size: int = 64,
    percentile: float = 1.0,
    n_pairs: int = 16,
    chunk: int = 4096,
) -> MemorizationResult:
    """Audit ``fake`` against ``train`` with ``heldout`` as the calibration set.

    Images are uint8 (any of the usual shapes), compared as standardised ``size``² pixel
    vectors; the training set is streamed in chunks.
    """
    fake_v = pixel_vectors(fake, size, standardize=True)
    held_v = pixel_vectors(heldout, size, standardize=True)

    def train_chunks():
        return pixel_chunks(train, size, standardize=True, chunk=chunk)

    fake_d, fake_i = nearest_neighbours_streamed(fake_v, train_chunks(), 1)
    held_d, _ = nearest_neighbours_streamed(held_v, train_chunks(), 1)
    fake_d, fake_i, held_d = fake_d[:, 0], fake_i[:, 0], held_d[:, 0]
    threshold = float(np.percentile(held_d, percentile))
    order = np.argsort(fake_d, kind="stable")[: min(n_pairs, len(fake_d))]
    notes = []
    if len(held_d) < MEMORIZATION_MIN_HELDOUT:
        notes.append(
            f"memorization: only {len(held_d)} held-out images (< {MEMORIZATION_MIN_HELDOUT}); "
            f"the {percentile:g}th-percentile threshold rests on "
            f"{len(held_d) * percentile / 100:.1f} images and is unstable."
        )
    median_held = float(np.median(held_d))
    return MemorizationResult(
        fraction=float((fake_d < threshold).mean()),
        expected_fraction=percentile / 100.0,
        threshold=threshold,
        percentile=percentile,
        distance_ratio=float(np.median(fake_d)) / median_held if median_held > 0 else float("nan"),
        fake_distance=fake_d,
        fake_nearest=fake_i,
        heldout_distance=held_d,
        closest_pairs=np.stack([order, fake_i[order]], axis=1),
        closest_distances=fake_d[order],
        warnings=notes,
    )
