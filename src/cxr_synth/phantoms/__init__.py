"""Procedural chest phantoms: the project's built-in, deterministic demo data.

No real chest X-ray can be downloaded where the project is developed, so the demo data are
drawn here from a seed: a body outline, two lungs, ribs, clavicles, heart, mediastinum,
diaphragm domes and spine, with per-patient anatomy and per-image pose, exposure and noise.
They are phantoms, NOT clinical data, and must never be mistaken for or mixed with real images.

Pure numpy and Pillow; nothing here imports Kedro.

>>> p = chest_phantom(seed=2017, patient=1, follow_up=0, size=256)
>>> p.image.dtype, p.image.shape, bool(p.left_lung.any())
(dtype('uint8'), (256, 256), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cxr_synth.phantoms.anatomy import (
    LEFT,
    RIGHT,
    Anatomy,
    Pose,
    jitter_pose,
    sample_anatomy,
    sample_pose,
)
from cxr_synth.phantoms.findings import FINDINGS
from cxr_synth.phantoms.render import Phantom, lung_mask, lung_masks, render

__all__ = [
    "FINDINGS",
    "LEFT",
    "RIGHT",
    "Anatomy",
    "Phantom",
    "Pose",
    "chest_phantom",
    "jitter_pose",
    "lung_mask",
    "lung_masks",
    "phantom_geometry",
    "render",
    "sample_anatomy",
    "sample_pose",
]


def phantom_geometry(
    seed: int, patient: int, follow_up: int = 0, view: str = "PA"
) -> tuple[Anatomy, Pose]:
    """The anatomy of ``patient`` and the pose of its ``follow_up``-th image, from ``seed``.

    The anatomy and the patient's usual acquisition depend on (seed, patient) only, so
    follow-ups look alike; each follow-up adds a small change of placement and exposure.
    """
    patient_rng = np.random.default_rng([seed, patient])
    anatomy = sample_anatomy(patient_rng)
    usual = sample_pose(patient_rng)
    image_rng = np.random.default_rng([seed, patient, follow_up, 1])
    return anatomy, jitter_pose(usual, image_rng, ap=view == "AP")


def chest_phantom(
    seed: int,
    patient: int,
    follow_up: int = 0,
    size: int = 1024,
    labels: Sequence[str] = (),
    view: str = "PA",
) -> Phantom:
    """One phantom image (uint8, ``size``²) with its exact left/right lung masks.

    Deterministic: the same arguments give identical bytes. ``labels`` are NIH finding names
    ("No Finding" draws nothing); ``view`` is "PA" or "AP".
    """
    anatomy, pose = phantom_geometry(seed, patient, follow_up, view)
    rng = np.random.default_rng([seed, patient, follow_up, 2])
    drawn = [label for label in labels if label in FINDINGS]
    return render(anatomy, pose, size=size, labels=drawn, rng=rng)
