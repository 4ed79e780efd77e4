"""Nodes of the ``demo_data`` pipeline: NIH- and Montgomery-shaped raw data made of phantoms
(``cxr_synth.phantoms.datasets``), all drawn from ``params:demo_data`` (``seed`` first).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from PIL import Image

from cxr_synth.phantoms.datasets import nih_images, nih_metadata, nih_split_lists, seg_images
from cxr_synth.pipelines.demo_data.params import DemoDataParams


def make_nih_metadata(params: DemoDataParams) -> pd.DataFrame:
    """Phantom ``Data_Entry_2017.csv`` (``nih_metadata``): one row per image, NIH's columns in
    NIH's order, from ``seed``, ``image_size`` and ``nih``'s patients, follow-ups and shares."""
    nih = params.nih
    return nih_metadata(
        params.seed,
        params.image_size,
        nih.n_patients,
        max_images_per_patient=nih.max_images_per_patient,
        no_finding_fraction=nih.no_finding_fraction,
        ap_fraction=nih.ap_fraction,
    )


def split_nih_patients(metadata: pd.DataFrame, params: DemoDataParams) -> tuple[str, str]:
    """Patient-wise ``train_val_list.txt`` and ``test_list.txt`` for the phantom metadata
    (``nih_split_lists``; ``nih.test_fraction`` of the patients in test)."""
    return nih_split_lists(metadata, params.seed, params.nih.test_fraction)


def make_nih_images(
    metadata: pd.DataFrame, params: DemoDataParams
) -> dict[str, Callable[[], Image.Image]]:
    """One lazily drawn phantom PNG per metadata row, in NIH's archive layout (``nih_images``)."""
    return nih_images(metadata, params.seed, params.image_size, params.workers)


def make_seg_images(params: DemoDataParams) -> dict[str, Callable[[], Image.Image]]:
    """Phantom lung-segmentation set in the Montgomery County layout (``seg_images``)."""
    return seg_images(params.seed, params.image_size, params.seg.n_images, params.workers)
