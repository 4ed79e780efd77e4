"""The training loop end to end on a tiny GAN (CPU, fp32 unless stated)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from cxr_synth.training import TrainConfig, TrainingDiverged, train_gan
from cxr_synth.training.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from tests.training import (
    Blobs,
    NaNAfter,
    make_tiny_gan,
    states_equal,
    tiny_config,
)


class RecordingTracker:
    def __init__(self) -> None:
        self.params: list[dict] = []
        self.metrics: list[tuple[dict, int]] = []
        self.images: list[tuple[np.ndarray, str]] = []

    def log_params(self, params):
        self.params.append(params)

    def log_metrics(self, metrics, step):
        self.metrics.append((metrics, step))

    def log_image(self, image, artifact_path):
        self.images.append((image, artifact_path))


def test_seeded_runs_are_identical_and_seed_matters():
    runs = [train_gan(make_tiny_gan(), Blobs(), tiny_config(seed=s)) for s in (0, 0, 1)]
    same, again, other = (r.final_state["generator"] for r in runs)
    assert states_equal(same, again)
    assert states_equal(runs[0].final_state["discriminator"], runs[1].final_state["discriminator"])
    assert not states_equal(same, other)
    assert [h["d_loss"] for h in runs[0].history] == [h["d_loss"] for h in runs[1].history]


def test_result_contents():
    result = train_gan(make_tiny_gan(), Blobs(), tiny_config(epochs=3))
    assert result.epoch == 3 and result.global_step == 6
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "images_per_s", "step"} <= result.history[
        0
    ].keys()
    assert result.timing["images"] == 3 * 2 * 8 and result.timing["images_per_s"] > 0
    assert result.best_score is None and result.best_epoch == 3  # no FID: the final generator
    assert states_equal(result.best_state, result.final_state["generator"])
    assert all(t.device.type == "cpu" for t in result.best_state.values())
    assert result.samples.dtype == np.uint8 and result.samples.ndim == 2  # grayscale grid
    assert result.precision == "fp32" and result.device == "cpu"


def test_resume_is_exactly_equivalent(tmp_path):
    """2 steps, checkpoint, resume, 2 steps == 4 uninterrupted steps (weights, optimisers, EMA)."""
    kw = {"checkpoint_every": 1}
    full = train_gan(
        make_tiny_gan(ema_decay=0.9),
        Blobs(),
        tiny_config(epochs=2, checkpoint_dir=str(tmp_path / "a"), **kw),
    )
    first = train_gan(
        make_tiny_gan(ema_decay=0.9),
        Blobs(),
        tiny_config(epochs=1, checkpoint_dir=str(tmp_path / "b"), **kw),
    )
    assert first.global_step == 2
    # A differently initialised GAN: everything must come from the checkpoint.
    resumed = train_gan(
        make_tiny_gan(seed=123, ema_decay=0.9),
        Blobs(),
        tiny_config(epochs=2, checkpoint_dir=str(tmp_path / "b"), resume=True, **kw),
    )
    assert resumed.global_step == 4
    for part in ("generator", "discriminator", "ema"):
        assert states_equal(full.final_state[part], resumed.final_state[part]), part
    assert [h["d_loss"] for h in full.history] == [h["d_loss"] for h in resumed.history]
    a = load_checkpoint(latest_checkpoint(tmp_path / "a"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "b"))
    assert torch.equal(
        a["g_optimizer"]["state"][0]["exp_avg_sq"], b["g_optimizer"]["state"][0]["exp_avg_sq"]
    )


class RecordingBlobs(Blobs):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []

    def __getitem__(self, i):
        self.reads.append(int(i))
        return super().__getitem__(i)


def test_data_order_depends_only_on_seed_and_epoch(tmp_path):
    """Reshuffled every epoch; epoch 2 reads the same order whether resumed or not."""
    data = RecordingBlobs()
    train_gan(make_tiny_gan(), data, tiny_config(epochs=2))
    epoch1, epoch2 = data.reads[:16], data.reads[16:]
    assert sorted(epoch1) == sorted(epoch2) == list(range(16)) and epoch1 != epoch2
    first = RecordingBlobs()
    train_gan(make_tiny_gan(), first, tiny_config(epochs=1, checkpoint_dir=str(tmp_path)))
    resumed = RecordingBlobs()
    train_gan(
        make_tiny_gan(), resumed, tiny_config(epochs=2, checkpoint_dir=str(tmp_path), resume=True)
    )
    assert first.reads == epoch1 and resumed.reads == epoch2


def test_resume_without_checkpoint_starts_fresh(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="cxr_synth.training"):
        result = train_gan(
            make_tiny_gan(),
            Blobs(),
            tiny_config(epochs=1, checkpoint_dir=str(tmp_path), resume=True),
        )
    assert result.global_step == 2
    assert "no checkpoint in" in caplog.text and "starting fresh" in caplog.text


def test_resume_of_a_finished_run_trains_nothing(tmp_path):
    config = tiny_config(epochs=1, checkpoint_dir=str(tmp_path))
    done = train_gan(make_tiny_gan(), Blobs(), config)
    again = train_gan(make_tiny_gan(seed=5), Blobs(), {**config, "resume": True})
    assert again.global_step == done.global_step
    assert states_equal(again.final_state["generator"], done.final_state["generator"])


def test_checkpoints_rotate_and_resume_checks_the_gan_name(tmp_path):
    train_gan(
        make_tiny_gan(), Blobs(), tiny_config(epochs=4, checkpoint_dir=str(tmp_path), keep_last=2)
    )
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch_000003.pt", "epoch_000004.pt"]
    other = make_tiny_gan()
    other.name = "not_tiny"
    with pytest.raises(ValueError, match="belongs to GAN 'tiny'"):
        train_gan(other, Blobs(), tiny_config(epochs=5, checkpoint_dir=str(tmp_path), resume=True))


def test_nan_loss_raises_and_keeps_last_good_checkpoint(tmp_path):
    # Steps 0-1 are epoch 1 (checkpointed); step 2, the first of epoch 2, returns NaN.
    gan = make_tiny_gan(objective=NaNAfter(first_bad_step=2))
    with pytest.raises(TrainingDiverged) as err:
        train_gan(gan, Blobs(), tiny_config(epochs=3, checkpoint_dir=str(tmp_path)))
    good = tmp_path / "epoch_000001.pt"
    message = str(err.value)
    assert "epoch 2, step 3" in message and "non-finite d_loss" in message
    assert str(good) in message and "lower the learning rates" in message
    assert err.value.checkpoint == good and err.value.epoch == 2
    assert list_checkpoints(tmp_path) == [good]  # the diverged state was never written
    ckpt = load_checkpoint(good)
    assert ckpt["epoch"] == 1 and all(torch.isfinite(v).all() for v in ckpt["generator"].values())


def test_nan_before_any_checkpoint_says_so():
    with pytest.raises(TrainingDiverged, match="no checkpoint was written"):
        train_gan(make_tiny_gan(objective=NaNAfter(0)), Blobs(), tiny_config())


def test_discriminator_collapse_stops_after_patience():
    config = tiny_config(epochs=5, collapse_threshold=1e9, collapse_patience=3)
    with pytest.raises(TrainingDiverged, match="discriminator collapse") as err:
        train_gan(make_tiny_gan(), Blobs(), config)
    assert err.value.step == 3
    # Off by default: the same run completes.
    assert train_gan(make_tiny_gan(), Blobs(), tiny_config(epochs=2)).epoch == 2


def test_best_fid_selects_the_right_epoch_and_weights():
    scores = iter([5.0, 3.0, 1.0, 2.0, 4.0])
    seen = []

    def evaluate(generator):
        assert not generator.training
        seen.append({k: v.clone() for k, v in generator.state_dict().items()})
        return {"fid": next(scores), "kid": 0.5}

    tracker = RecordingTracker()
    result = train_gan(
        make_tiny_gan(), Blobs(), tiny_config(epochs=5), evaluate=evaluate, tracker=tracker
    )
    assert len(seen) == 5
    assert result.best_epoch == 3 and result.best_score == 1.0
    assert states_equal(result.best_state, seen[2])
    assert not states_equal(result.best_state, result.final_state["generator"])
    assert [h["fid"] for h in result.history] == [5.0, 3.0, 1.0, 2.0, 4.0]
    # The tracker saw params, per-step losses, FID per evaluation and a sample grid per evaluation.
    assert tracker.params and tracker.params[0]["gan.name"] == "tiny"
    eval_logs = [(m, s) for m, s in tracker.metrics if "eval/fid" in m]
    assert [m["eval/fid"] for m, _ in eval_logs] == [5.0, 3.0, 1.0, 2.0, 4.0]
    assert [s for _, s in eval_logs] == [2, 4, 6, 8, 10]
    assert sum("train/d_loss" in m for m, _ in tracker.metrics) == 10  # log_every=1
    assert [p for _, p in tracker.images] == [f"samples/epoch_{e:04d}.png" for e in range(1, 6)]
    assert tracker.images[0][0].dtype == np.uint8


def test_evaluation_does_not_change_training():
    def evaluate(generator):
        torch.randn(100)  # consumes the global RNG
        return {"fid": 1.0}

    plain = train_gan(make_tiny_gan(), Blobs(), tiny_config(eval_every=5))
    evaluated = train_gan(make_tiny_gan(), Blobs(), tiny_config(eval_every=1), evaluate=evaluate)
    assert states_equal(plain.final_state["generator"], evaluated.final_state["generator"])


def test_eval_every_and_final_evaluation():
    epochs = []
    train_gan(
        make_tiny_gan(),
        Blobs(),
        tiny_config(epochs=5, eval_every=2),
        evaluate=lambda g: epochs.append(len(epochs)) or {},
    )
    assert len(epochs) == 3  # epochs 2, 4 and the last (5)


def test_ema_is_kept_when_ema_decay_is_set():
    seen = []
    initial = {k: v.clone() for k, v in make_tiny_gan().generator.state_dict().items()}
    result = train_gan(
        make_tiny_gan(ema_decay=0.5),
        Blobs(),
        tiny_config(epochs=2),
        evaluate=lambda g: seen.append({k: v.clone() for k, v in g.state_dict().items()}) or {},
    )
    ema, g = result.final_state["ema"], result.final_state["generator"]
    assert ema is not None and ema.keys() == g.keys()  # loads straight into a generator
    assert not states_equal(ema, g)  # an average, not a copy of the final G...
    assert not states_equal(ema, initial)  # ...nor of the initial one
    assert states_equal(seen[-1], ema)  # evaluate got the EMA generator
    # decay 0: the average is the latest G, exactly (parameters and BN buffers).
    instant = train_gan(make_tiny_gan(ema_decay=0.0), Blobs(), tiny_config(epochs=1))
    assert states_equal(instant.final_state["ema"], instant.final_state["generator"])
    plain = train_gan(make_tiny_gan(), Blobs(), tiny_config(epochs=1))
    assert plain.final_state["ema"] is None


def test_n_critic_updates_g_every_n_steps():
    result = train_gan(
        make_tiny_gan(n_critic=2), Blobs(), tiny_config(epochs=2, max_steps_per_epoch=1)
    )
    assert result.global_step == 2 and "g_loss" in result.history[1]
    assert "g_loss" not in result.history[0]  # step 1: D only


def test_bf16_autocast_runs_on_cpu():
    gan = make_tiny_gan()
    result = train_gan(gan, Blobs(), tiny_config(precision="bf16", channels_last=True))
    assert result.precision == "bf16"
    # The grid is sampled outside autocast; check the training forward used bf16 by a hook.
    dtypes = []
    gan.generator.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    train_gan(gan, Blobs(), tiny_config(precision="bf16", epochs=1))
    assert torch.bfloat16 in dtypes
    assert all(torch.isfinite(t).all() for t in result.final_state["generator"].values())


def test_max_steps_per_epoch_and_too_small_dataset():
    result = train_gan(make_tiny_gan(), Blobs(64), tiny_config(epochs=1, max_steps_per_epoch=3))
    assert result.global_step == 3
    with pytest.raises(ValueError, match="smaller than one batch"):
        train_gan(make_tiny_gan(), Blobs(4), tiny_config())


def test_config_as_dataclass_and_start_log(caplog):
    with caplog.at_level(logging.INFO, logger="cxr_synth.training"):
        train_gan(make_tiny_gan(), Blobs(), TrainConfig.from_dict(tiny_config(epochs=1)))
    text = caplog.text
    assert "on cpu | precision fp32 | channels_last False" in text
    assert "16 images, batch 8 (8 per process), 2 steps/epoch" in text
