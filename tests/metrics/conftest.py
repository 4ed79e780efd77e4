"""Small, deterministic image sets for the metric tests: chest phantoms at 64 px."""

from __future__ import annotations

import numpy as np
import pytest

from cxr_synth.metrics import RandomConvBackbone
from cxr_synth.phantoms import chest_phantom


@pytest.fixture(scope="session")
def phantoms64() -> np.ndarray:
    """240 distinct patients, 64x64 uint8: [0:120] train, [120:180] held-out, [180:240] fresh."""
    return np.stack([chest_phantom(seed=7, patient=i, size=64).image for i in range(240)])


@pytest.fixture(scope="session")
def random_backbone() -> RandomConvBackbone:
    return RandomConvBackbone(seed=0)
