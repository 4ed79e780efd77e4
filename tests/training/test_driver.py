"""train_generator without Kedro: a GAN from its settings, trained, its records assembled."""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import torch

from cxr_synth.metrics.features import build_backbone, extract_features
from cxr_synth.metrics.fid import stats_from_features
from cxr_synth.metrics.params import FeatureParams
from cxr_synth.models.options import ProposedOptions
from cxr_synth.models.registry import parse_options
from cxr_synth.training import TrainConfig, train_generator
from cxr_synth.training.tracking import NullTracker

EVALUATION = FeatureParams(backbone="random", batch_size=8)


def _reference(images: np.ndarray) -> dict[str, np.ndarray]:
    backbone = build_backbone("random", **EVALUATION.backbone_kwargs())
    features = extract_features(backbone, images, 8)
    stats = stats_from_features(features, backbone.identifier, 32)
    return {**stats.to_dict(), "features": features}


def _config(tmp_path) -> TrainConfig:
    return TrainConfig(epochs=1, batch_size=8, device="cpu", precision="fp32", seed=0,
                       eval_every=1, checkpoint_dir=str(tmp_path))  # fmt: skip


class Params(NullTracker):
    def __init__(self, logged: list):
        self.logged = logged

    def log_params(self, params):
        self.logged.append(params)


def test_the_best_generator_and_its_records_and_the_run_params(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (24, 32, 32), dtype=np.uint8)
    logged: list = []

    @contextlib.contextmanager
    def open_run(name):
        assert name == "dcgan"
        yield Params(logged)

    options = parse_options("dcgan", {"g_width": 4, "d_width": 4})
    result = train_generator(
        images, np.arange(16), _reference(images[:16]), "dcgan", options, _config(tmp_path),
        EVALUATION, n_fake=16, open_run=open_run,
    )  # fmt: skip
    assert result.spec["channels"] == 1 and result.spec["fid_label"] == "FD_rand"
    assert result.spec["best_fid"] == result.metrics["dcgan.best_fd_rand"]
    assert list(result.history["epoch"]) == [1] and result.samples.dtype == np.uint8
    assert logged[0]["architecture"] == "dcgan" and "paper_deviations" not in logged[0]
    with torch.no_grad():
        assert result.generator(torch.randn(2, result.spec["latent_dim"])).shape == (2, 1, 32, 32)


def test_options_away_from_the_paper_are_warned_and_logged(tmp_path, caplog):
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32), dtype=np.uint8)
    masks = (images > 127).astype(np.uint8)
    logged: list = []
    options = ProposedOptions(g_width=4, d_width=4, dropout=0.0)

    @contextlib.contextmanager
    def open_run(name):
        assert name == "pairs_proposed"
        yield Params(logged)

    with caplog.at_level(logging.WARNING, logger="cxr_synth.training"):
        result = train_generator(
            images, np.arange(16), _reference(images), "proposed", options, _config(tmp_path),
            EVALUATION, n_fake=8, masks=masks, open_run=open_run,
        )  # fmt: skip
    assert "pairs_proposed: options differ from the paper's model (dropout=0.0" in caplog.text
    assert logged[0]["paper_deviations"] == "dropout" and result.spec["channels"] == 2
