"""Nodes of the demo_data pipeline: typed glue to ``cxr_synth.phantoms.datasets`` (tested in
tests/phantoms/test_datasets.py)."""

from __future__ import annotations

import numpy as np

from cxr_synth.phantoms.datasets import nih_images, nih_metadata, nih_split_lists, seg_images
from cxr_synth.pipelines.demo_data.nodes import (
    make_nih_images,
    make_nih_metadata,
    make_seg_images,
    split_nih_patients,
)
from cxr_synth.pipelines.demo_data.params import DemoDataParams

RAW = {
    "seed": 2017,
    "image_size": 64,
    "generate_if_missing": True,
    "nih": {
        "n_patients": 12,
        "max_images_per_patient": 4,
        "no_finding_fraction": 0.6,
        "ap_fraction": 0.3,
        "test_fraction": 0.25,
    },
    "seg": {"n_images": 3},
}
PARAMS = DemoDataParams.parse(RAW)


def test_the_nodes_draw_what_the_library_draws_from_the_parameters():
    metadata = make_nih_metadata(PARAMS)
    assert metadata.equals(nih_metadata(2017, 64, 12, max_images_per_patient=4,
                                        no_finding_fraction=0.6, ap_fraction=0.3))  # fmt: skip
    assert split_nih_patients(metadata, PARAMS) == nih_split_lists(metadata, 2017, 0.25)
    images, library = make_nih_images(metadata, PARAMS), nih_images(metadata, 2017, 64)
    assert list(images) == list(library)
    first = next(iter(images))
    np.testing.assert_array_equal(np.asarray(images[first]()), np.asarray(library[first]()))
    seg = make_seg_images(PARAMS)
    assert list(seg) == list(seg_images(2017, 64, 3)) and len(seg) == 9
