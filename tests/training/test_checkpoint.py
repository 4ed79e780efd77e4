"""Checkpoint files: atomic writes, weights_only loads, rotation."""

from __future__ import annotations

import pytest
import torch

from cxr_synth.training import train_gan
from cxr_synth.training.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from tests.training import Blobs, make_tiny_gan, tiny_config


def test_failed_save_leaves_previous_file_intact(tmp_path):
    path = tmp_path / "epoch_000001.pt"
    save_checkpoint({"w": torch.arange(3.0)}, path)
    before = path.read_bytes()
    # A lambda cannot be pickled: torch.save fails after writing part of the file.
    with pytest.raises(Exception, match="pickle|lambda"):
        save_checkpoint({"w": torch.zeros(1000), "bad": lambda: None}, path)
    assert path.read_bytes() == before
    assert torch.equal(load_checkpoint(path)["w"], torch.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_save_interrupted_after_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "epoch_000001.pt"
    save_checkpoint({"w": torch.ones(2)}, path)

    def crash(src, dst):
        raise OSError("disk vanished")

    monkeypatch.setattr("cxr_synth.runtime.atomic.os.replace", crash)  # the shared atomic writer
    with pytest.raises(OSError, match="disk vanished"):
        save_checkpoint({"w": torch.zeros(2)}, path)
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(2))
    assert len(list(tmp_path.iterdir())) == 1


def test_training_checkpoint_loads_with_weights_only(tmp_path):
    train_gan(
        make_tiny_gan(ema_decay=0.9), Blobs(), tiny_config(epochs=1, checkpoint_dir=str(tmp_path))
    )
    path = latest_checkpoint(tmp_path)
    assert path == checkpoint_path(tmp_path, 1)
    ckpt = torch.load(path, weights_only=True)  # would raise on numpy arrays or objects
    # (the full key layout: tests/training/test_resume.py)
    assert ckpt["epoch"] == 1 and ckpt["global_step"] == 2 and len(ckpt["history"]) == 1
    assert set(ckpt["rng"][0]) == {"python", "numpy", "torch", "cuda"}
    assert "n_averaged" in ckpt["ema"]


def test_listing_latest_and_pruning(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    for epoch in (2, 10, 1):
        save_checkpoint({"e": epoch}, checkpoint_path(tmp_path, epoch))
    (tmp_path / ".epoch_000011.pt.abc.tmp").write_bytes(b"partial")  # a crashed save
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "epoch_000001.pt",
        "epoch_000002.pt",
        "epoch_000010.pt",
    ]
    assert latest_checkpoint(tmp_path).name == "epoch_000010.pt"
    removed = prune_checkpoints(tmp_path, keep_last=1)
    assert [p.name for p in removed] == ["epoch_000001.pt", "epoch_000002.pt"]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch_000010.pt"]
