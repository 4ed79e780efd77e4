import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from cxr_synth.metrics.fid import FeatureStats
from cxr_synth.models.registry import build_gan
from cxr_synth.pipelines.training.nodes import (
    compute_fid_reference_stats,
    plot_fid_curve,
    plot_loss_curves,
    train_generator,
)
from cxr_synth.pipelines.training.params import LoopOverrides, ModelParams, TrainingParams
from cxr_synth.runtime.devices import resolve_device
from cxr_synth.runtime.errors import UserError
from cxr_synth.sharing.generator import weights_digest
from cxr_synth.training.driver import fid_evaluator

TRAINING = {
    "data": {"splits": ["train"], "rotation_degrees": 2, "horizontal_flip": False},
    "loop": {
        "epochs": 2,
        "batch_size": 8,
        "device": "cpu",
        "precision": "fp32",
        "seed": 0,
        "eval_every": 1,
        "log_every": 1,
        "checkpoint_every": 1,
    },
    "evaluation": {"backbone": "random", "n_real": 24, "n_fake": 16, "batch_size": 8, "seed": 0},
}


def typed(**overrides) -> TrainingParams:
    return TrainingParams.parse({**TRAINING, **overrides})


def train(images, index, reference, model, loop, training, *rest):
    """``train_generator`` with the typed parameters Kedro would pass."""
    return train_generator(
        images, index, reference, ModelParams.parse(model), LoopOverrides.parse(loop),
        TrainingParams.parse(training), *rest,
    )  # fmt: skip


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 32, 32), dtype=np.uint8)
    index = pd.DataFrame({"row": np.arange(40), "split": ["train"] * 32 + ["test"] * 8})
    return images, index


def test_reference_stats_use_only_training_images_and_are_seeded(data):
    images, index = data
    first = FeatureStats.from_dict(compute_fid_reference_stats(images, index, typed()))
    second = FeatureStats.from_dict(compute_fid_reference_stats(images, index, typed()))
    assert first.n == 24 and first.resolution == 32
    np.testing.assert_array_equal(first.mean, second.mean)
    only_test = index.assign(split="test")
    with pytest.raises(ValueError, match="training.data.splits"):
        compute_fid_reference_stats(images, only_test, typed())


def test_train_generator_returns_the_best_generator_and_its_records(data, tmp_path):
    images, index = data
    reference = compute_fid_reference_stats(images, index, typed())
    training = {**TRAINING, "checkpoint_root": str(tmp_path)}
    model = {"architecture": "dcgan", "options": {"g_width": 4, "d_width": 4}}
    generator, spec, history, metrics, grid = train(images, index, reference, model, {}, training)

    assert spec["architecture"] == "dcgan" and spec["resolution"] == 32 and spec["epochs"] == 2
    assert spec["best_epoch"] in (1, 2) and spec["fid_label"] == "FD_rand"
    assert spec["best_fid"] == pytest.approx(history["fid"].min())
    assert spec["weights_sha256"] == weights_digest(generator.state_dict())  # its own weights
    assert history[["precision", "recall"]].notna().all().all()  # learning curves of P and R
    assert list(history["epoch"]) == [1, 2]
    assert metrics["dcgan.best_fd_rand"]["value"] == pytest.approx(spec["best_fid"])
    assert metrics["dcgan.images_per_s"]["value"] > 0
    assert isinstance(grid, Image.Image) and grid.size[0] > 32
    assert (tmp_path / "dcgan").is_dir() and any((tmp_path / "dcgan").iterdir())

    rebuilt = build_gan("dcgan", resolution=32, g_width=4, d_width=4).generator
    rebuilt.load_state_dict(generator.state_dict())
    with torch.no_grad():
        sample = rebuilt.eval()(torch.randn(2, spec["latent_dim"]))
    assert sample.shape == (2, 1, 32, 32) and sample.abs().max() <= 1


def test_a_tiny_reference_gives_fid_without_precision_and_recall(data):
    images, index = data
    few = index.assign(split=["train"] * 3 + ["test"] * 37)  # at most k = 3 real images
    reference = compute_fid_reference_stats(images, few, typed())
    evaluate, _ = fid_evaluator(reference, typed().evaluation, n_fake=16, latent_dim=16)
    generator = nn.Sequential(nn.Linear(16, 32 * 32), nn.Tanh(), nn.Unflatten(1, (1, 32, 32)))
    assert set(evaluate(generator)) == {"fid"}


def test_a_conditional_generator_renders_the_given_masks_for_fd(data):
    images, index = data
    reference = compute_fid_reference_stats(images, index, typed())
    seen = []

    class Recording(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, condition):
            seen.append(condition)
            return torch.cat([torch.tanh(condition * self.scale)] * 2, dim=1)

    masks = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 32, 32)
    evaluate, _ = fid_evaluator(reference, typed().evaluation, 20, latent_dim=7, conditions=masks)
    assert "fid" in evaluate(Recording())
    rendered = torch.cat(seen)  # batches of 8: the 3 masks cycled to n_fake = 20
    assert rendered.shape == (20, 1, 32, 32)
    assert rendered[:, 0, 0, 0].tolist() == [i % 3 for i in range(20)]


def test_mask2image_trains_on_pairs_and_renders_its_conditions(data, tmp_path):
    images, index = data
    masks = (images > 127).astype(np.uint8)
    reference = compute_fid_reference_stats(images, index, typed())
    training = {**TRAINING, "checkpoint_root": str(tmp_path), "init_from_pretrained": True,
                "loop": {**TRAINING["loop"], "epochs": 1}}  # fmt: skip
    model = {"architecture": "mask2image",
             "options": {"g_width": 4, "d_width": 4, "max_width": 8, "g_depth": 2, "d_layers": 2}}  # fmt: skip
    conditions = masks[:5]  # no NIH-trained generator is needed (nor looked for)
    generator, spec, history, metrics, grid = train(
        images, index, reference, model, {}, training, masks, None, conditions
    )
    assert spec["architecture"] == "mask2image" and spec["channels"] == 2
    assert np.isfinite(history["fid"]).all() and "pairs_mask2image.best_fd_rand" in metrics
    assert (tmp_path / "mask2image").is_dir()
    condition = torch.from_numpy(conditions[:2]).float().unsqueeze(1) * 2 - 1
    with torch.no_grad():
        assert torch.equal(generator.eval()(condition)[:, 1:], condition)
    assert grid.size[0] > grid.size[1]  # image | mask side by side
    training["init_from_pretrained"] = False
    with pytest.raises(ValueError, match="needed by a conditional architecture and only by one"):
        train(images, index, reference, model, {}, training, masks, None, None)
    dcgan = {"architecture": "dcgan", "options": {"g_width": 4, "d_width": 4}}
    with pytest.raises(ValueError, match="only by one"):
        train(images, index, reference, dcgan, {}, training, masks, None, conditions)
    with pytest.raises(ValueError, match="no masks to render"):
        train(images, index, reference, model, {}, training, masks, None, conditions[:0])


def test_pretrained_start_without_the_pretrained_generator_is_refused(data, tmp_path):
    images, index = data
    reference = compute_fid_reference_stats(images, index, typed())
    training = {**TRAINING, "checkpoint_root": str(tmp_path), "init_from_pretrained": True}
    model = {"architecture": "dcgan", "options": {"g_width": 4, "d_width": 4}}
    masks = (images > 127).astype(np.uint8)
    with pytest.raises(UserError, match="train_dcgan"):
        train(images, index, reference, model, {}, training, masks, None)


def test_with_masks_the_generator_learns_image_mask_pairs(data, tmp_path):
    images, index = data
    masks = (images > 127).astype(np.uint8)
    reference = compute_fid_reference_stats(images, index, typed())
    training = {
        **TRAINING,
        "checkpoint_root": str(tmp_path),
        "loop": {**TRAINING["loop"], "epochs": 1},
    }
    model = {"architecture": "dcgan", "options": {"g_width": 4, "d_width": 4}}
    generator, spec, history, metrics, grid = train(
        images, index, reference, model, {}, training, masks
    )
    assert spec["channels"] == 2 and np.isfinite(history["fid"]).all()
    assert "pairs_dcgan.best_fd_rand" in metrics  # never collides with the 1-channel run's keys
    with torch.no_grad():
        assert generator.eval()(torch.randn(2, spec["latent_dim"])).shape == (2, 2, 32, 32)
    assert grid.mode == "L" and grid.size[0] > grid.size[1]  # image | mask side by side


def test_pair_generator_starts_from_pretrained_weights_only_when_asked(data, tmp_path, monkeypatch):
    images, index = data
    reference = compute_fid_reference_stats(images, index, typed())
    model = {"architecture": "dcgan", "options": {"g_width": 4, "d_width": 4}}
    pretrained = build_gan("dcgan", resolution=32, g_width=4, d_width=4).generator.state_dict()
    calls = []
    monkeypatch.setattr(
        "cxr_synth.training.driver.load_matching_weights",
        lambda module, state: calls.append(state) or [],
    )
    loop = {**TRAINING["loop"], "epochs": 1, "eval_every": 1}
    masks = (images > 127).astype(np.uint8)
    for flag in (False, True):
        training = {**TRAINING, "loop": loop, "checkpoint_root": str(tmp_path / str(flag)),
                    "init_from_pretrained": flag}  # fmt: skip
        train(images, index, reference, model, {}, training, masks, pretrained)
    assert calls == [pretrained]


def test_loop_overrides_win_over_shared_settings(data, tmp_path):
    images, index = data
    reference = compute_fid_reference_stats(images, index, typed())
    training = {**TRAINING, "checkpoint_root": str(tmp_path)}
    model = {"architecture": "lsgan", "options": {"g_width": 4, "d_width": 4}}
    _, spec, history, _, _ = train(images, index, reference, model, {"epochs": 1}, training)
    assert spec["epochs"] == 1 and len(history) == 1
    with pytest.raises(ValueError, match="epoks"):
        train(images, index, reference, model, {"epoks": 1}, training)


def test_plots_are_figures():
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "g_loss": [1.0, 0.8, 0.7],
            "d_loss": [1.2, 1.1, 1.0],
            "fid": [np.nan, 50.0, 40.0],
        }
    )
    spec = {"architecture": "dcgan", "fid_label": "FD_rand", "best_fid": 40.0, "best_epoch": 3}
    loss = plot_loss_curves(history, spec)
    fid = plot_fid_curve(history, spec)
    assert isinstance(loss, Figure) and len(loss.axes[0].lines) == 2
    assert isinstance(fid, Figure) and list(fid.axes[0].lines[0].get_xdata()) == [2, 3]
    single = plot_loss_curves(history.drop(columns="d_loss"), {**spec, "architecture": "ddpm"})
    assert [line.get_label() for line in single.axes[0].lines] == ["loss"]


# ------------------------------------------------- FID network placement (compute_fid_reference_stats,
# fid_evaluator): on the training device, and only on rank 0 under torchrun
def _spy_backbones(monkeypatch) -> list[dict]:
    """Record every ``build_backbone`` call of the training nodes, and every ``.to`` of what
    it built (``calls[i]["moved"]``)."""
    from cxr_synth.metrics import features

    calls: list[dict] = []
    real_build = features.build_backbone

    def build(*args, **kwargs):
        backbone = real_build(*args, **kwargs)
        record = {**kwargs, "moved": []}
        real_to = backbone.to
        backbone.to = lambda device: record["moved"].append(device) or real_to(device)
        calls.append(record)
        return backbone

    monkeypatch.setattr(features, "build_backbone", build)
    return calls


def _refuse_backbones(monkeypatch) -> None:
    from cxr_synth.metrics import features

    def refuse(*args, **kwargs):
        raise AssertionError("a rank > 0 built a feature network")

    monkeypatch.setattr(features, "build_backbone", refuse)


def test_reference_stats_run_on_the_evaluation_device(data, monkeypatch):
    images, index = data
    calls = _spy_backbones(monkeypatch)
    evaluation = {**TRAINING["evaluation"], "device": "cpu"}
    compute_fid_reference_stats(images, index, typed(evaluation=evaluation))
    assert calls[0]["device"] == torch.device("cpu")
    compute_fid_reference_stats(images, index, typed())
    assert calls[1]["device"] == resolve_device("auto")  # no key: the loop's "auto" rule


def test_ranks_above_zero_compute_no_reference_features(data, monkeypatch):
    images, index = data
    monkeypatch.delenv("RANK", raising=False)
    rank0 = compute_fid_reference_stats(images, index, typed())
    monkeypatch.setenv("RANK", "1")
    _refuse_backbones(monkeypatch)
    rank1 = compute_fid_reference_stats(images, index, typed())
    assert rank1.keys() == rank0.keys()
    shapes = {k: np.shape(v) for k, v in rank0.items() if k != "features"}
    assert {k: np.shape(v) for k, v in rank1.items() if k != "features"} == shapes
    assert rank1["features"].shape == (0, rank0["features"].shape[1])
    placeholder = FeatureStats.from_dict(rank1)
    assert placeholder.n == 0 and "rank 1" in placeholder.backbone


def test_fid_evaluator_runs_on_the_generators_device(data, monkeypatch):
    images, index = data
    monkeypatch.delenv("RANK", raising=False)
    reference = compute_fid_reference_stats(images, index, typed())
    calls = _spy_backbones(monkeypatch)
    evaluate, label = fid_evaluator(reference, typed().evaluation, n_fake=16, latent_dim=16)
    generator = nn.Sequential(nn.Linear(16, 32 * 32), nn.Tanh(), nn.Unflatten(1, (1, 32, 32)))
    metrics = evaluate(generator)
    assert label == "FD_rand" and np.isfinite(metrics["fid"])
    assert 0 <= metrics["precision"] <= 1 and 0 <= metrics["recall"] <= 1
    assert calls[0]["moved"] == [torch.device("cpu")]  # to the device of the generator's weights


def test_fid_evaluator_on_ranks_above_zero_builds_nothing(data, monkeypatch):
    monkeypatch.setenv("RANK", "2")
    _refuse_backbones(monkeypatch)
    stats = FeatureStats(np.zeros(544), np.zeros((544, 544)), 0, "not computed on rank 2")
    evaluate, label = fid_evaluator(stats.to_dict(), typed().evaluation, n_fake=16, latent_dim=16)
    assert label == "FD_rand"
    with pytest.raises(RuntimeError, match="rank 0 only"):
        evaluate(nn.Linear(16, 16))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fid_evaluator_follows_a_cuda_generator(data, monkeypatch):
    images, index = data
    monkeypatch.delenv("RANK", raising=False)
    evaluation = {**TRAINING["evaluation"], "device": "cuda"}
    calls = _spy_backbones(monkeypatch)
    reference = compute_fid_reference_stats(images, index, typed(evaluation=evaluation))
    assert calls[0]["device"] == torch.device("cuda")
    evaluate, _ = fid_evaluator(
        reference, typed(evaluation=evaluation).evaluation, n_fake=16, latent_dim=16
    )
    generator = nn.Sequential(nn.Linear(16, 32 * 32), nn.Tanh(), nn.Unflatten(1, (1, 32, 32)))
    assert np.isfinite(evaluate(generator.cuda())["fid"])
    assert calls[1]["moved"][0].type == "cuda"
