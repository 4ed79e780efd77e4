"""Fault: a lung mask that is binary noise with a plausible lung share (0.55) passed every check
(binary, share within 0.05-0.70) and became a U-Net's training target. Its outline now gives it
away; no real mask's does."""

import numpy as np
import pandas as pd
from PIL import Image

from cxr_synth.data.imaging import ResizeSpec, prepare_mask
from cxr_synth.pipelines.preprocessing.nodes import (
    pair_segmentation_files,
    preprocess_segmentation,
)
from cxr_synth.pipelines.preprocessing.params import SegmentationPreprocessing
from tests.conftest import shared_data
from tests.pipelines.preprocessing.test_nodes import lung_masks, params, save_pngs, xray


def _one_pair(tmp_path, image, mask, stem="CHNCXR_0001_0"):
    loaders = save_pngs(tmp_path, {f"images/{stem}": image, f"masks/{stem}": mask})
    paired = params(layout="paired", lung_labels=None)
    pairs, pair_rejects = pair_segmentation_files(loaders, paired)
    return pairs, loaders, pair_rejects, paired


def test_a_binary_noise_mask_with_a_plausible_lung_share_is_a_counted_reject(tmp_path):
    noise = np.where(np.random.default_rng(0).random((96, 96)) < 0.55, 255, 0).astype(np.uint8)
    bad = _one_pair(tmp_path / "bad", xray(0), Image.fromarray(noise))
    good = _one_pair(tmp_path / "good", xray(1), lung_masks()[0], stem="CHNCXR_0002_0")
    pairs, params = pd.concat([good[0], bad[0]], ignore_index=True), bad[3]
    params = params.model_copy(update={"resolution": 32})  # 96 -> 32: the share stays ~0.55
    images, _, index, rejects = preprocess_segmentation(
        pairs, {**good[1], **bad[1]}, bad[2], params
    )
    assert index["stem"].tolist() == ["CHNCXR_0002_0"] and len(images) == 1
    assert rejects["item"].tolist() == ["images/CHNCXR_0001_0.png"]
    assert rejects["reason"].item().startswith("mask: ragged outline (boundary²/4π·area ")


def test_every_real_montgomery_and_shenzhen_mask_is_accepted():
    files = sorted(shared_data("seg").glob("*/masks/*.png"))
    plausible = SegmentationPreprocessing().lung_fraction
    for resolution in (32, 128):
        for file in files:
            mask = prepare_mask([Image.open(file)], ResizeSpec(resolution), None, plausible)
            assert 0.05 < mask.mean() < 0.5, file
    assert len(files) == 538
