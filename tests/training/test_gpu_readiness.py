"""Loop options for GPU runs, checked on CPU: compile, micro-batches, SyncBatchNorm, workers."""

from __future__ import annotations

import logging
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cxr_synth.models.base import GAN
from cxr_synth.models.losses import NonSaturating, WassersteinGP
from cxr_synth.models.registry import build_gan
from cxr_synth.training import distributed, train_gan
from cxr_synth.training.distributed import DistInfo, convert_sync_batchnorm, use_sync_batchnorm
from tests.training import (
    LATENT_DIM,
    Blobs,
    TinyDiscriminator,
    make_tiny_gan,
    states_equal,
    tiny_config,
)

SMALL = {"resolution": 16, "g_width": 4, "d_width": 4, "latent_dim": 8, "seed": 0}


# ------------------------------------------------------------------------------------ compile
def _record_compile(monkeypatch) -> list[nn.Module]:
    compiled: list[nn.Module] = []
    monkeypatch.setattr(torch, "compile", lambda module, **kw: compiled.append(module) or module)
    return compiled


@pytest.mark.parametrize("name, extra", [("wgan_gp", {}), ("proposed", {"r1_gamma": 1.0})])
def test_compile_true_is_refused_when_the_objective_needs_double_backward(monkeypatch, name, extra):
    compiled = _record_compile(monkeypatch)
    with pytest.raises(ValueError, match="compile: true cannot train") as err:
        train_gan(build_gan(name, **SMALL, **extra), Blobs(), tiny_config(compile=True))
    assert "double backward" in str(err.value) and "compile: generator" in str(err.value)
    assert compiled == []  # refused before anything was compiled or trained


def test_compile_generator_compiles_g_only_and_true_compiles_both(monkeypatch):
    compiled = _record_compile(monkeypatch)
    gan = build_gan("wgan_gp", **SMALL, n_critic=1)
    train_gan(gan, Blobs(), tiny_config(epochs=1, compile="generator"))
    assert compiled == [gan.generator]
    compiled.clear()
    gan = build_gan("dcgan", **SMALL)
    train_gan(gan, Blobs(), tiny_config(epochs=1, compile=True))
    assert compiled == [gan.generator, gan.discriminator]


# ------------------------------------------------------------------------------ micro-batches
class NoBatchNormGenerator(nn.Module):
    """TinyGenerator without BatchNorm: a sample's output depends on its own z only."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.width = width
        self.fc = nn.Linear(LATENT_DIM, width * 4 * 4)
        self.up1 = nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.up1(self.fc(z).view(-1, self.width, 4, 4)))
        return torch.tanh(self.up2(x))


def _per_sample_gan(objective, n_critic: int) -> GAN:
    torch.manual_seed(0)
    return GAN(
        name="per_sample",
        generator=NoBatchNormGenerator(),
        discriminator=TinyDiscriminator(),
        objective=objective,
        latent_dim=LATENT_DIM,
        g_optimizer={"lr": 1e-3, "betas": (0.5, 0.999)},
        d_optimizer={"lr": 1e-3, "betas": (0.5, 0.999)},
        n_critic=n_critic,
        ema_decay=0.9,
    )


@pytest.mark.parametrize(
    "objective, n_critic",
    [
        (lambda: WassersteinGP(gp_lambda=10.0), 2),  # gradient penalty, n_critic
        (lambda: NonSaturating(r1_gamma=1.0, r1_interval=2), 1),  # lazy R1
    ],
)
def test_micro_batches_give_the_full_batch_result(objective, n_critic):
    """Without statistics across samples, micro-batching changes only the summation order."""
    runs = {
        micro: train_gan(
            _per_sample_gan(objective(), n_critic),
            Blobs(32),
            tiny_config(epochs=2, batch_size=8, micro_batch_size=micro),
        )
        for micro in (None, 4, 2)
    }
    full = runs[None]
    assert full.global_step == 8
    for micro in (4, 2):
        run = runs[micro]
        assert run.global_step == full.global_step
        for part in ("generator", "discriminator", "ema"):
            a, b = full.final_state[part], run.final_state[part]
            for key in a:
                torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5, msg=part + key)
        for h_full, h_micro in zip(full.history, run.history, strict=True):
            assert h_full.keys() == h_micro.keys()  # same logged terms (r1, gp, g_loss...)
            assert h_micro["d_loss"] == pytest.approx(h_full["d_loss"], rel=1e-4, abs=1e-5)


def test_micro_batch_size_checks():
    with pytest.raises(ValueError, match="does not divide the per-process batch 8"):
        train_gan(make_tiny_gan(), Blobs(), tiny_config(micro_batch_size=3))
    # Larger than the batch: the batch runs whole (bit-identical to no micro-batching).
    whole = train_gan(make_tiny_gan(), Blobs(), tiny_config(epochs=1, micro_batch_size=64))
    plain = train_gan(make_tiny_gan(), Blobs(), tiny_config(epochs=1))
    assert states_equal(whole.final_state["generator"], plain.final_state["generator"])


# ----------------------------------------------------------------------------- SyncBatchNorm
def test_sync_batchnorm_setting():
    one, two = DistInfo(), DistInfo(rank=0, world_size=2)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not use_sync_batchnorm("auto", one, cuda)  # one process: nothing to sync
    assert use_sync_batchnorm("auto", two, cuda) and use_sync_batchnorm(True, two, cuda)
    assert not use_sync_batchnorm(False, two, cuda)
    assert not use_sync_batchnorm("auto", two, cpu)  # no SyncBatchNorm kernels on CPU
    with pytest.raises(ValueError, match="sync_batchnorm: true needs a GPU"):
        use_sync_batchnorm(True, two, cpu)


def test_conversion_replaces_every_batchnorm_and_keeps_the_weights():
    gan = build_gan("dcgan", **SMALL)
    for module in (gan.generator, gan.discriminator):
        before = {k: v.clone() for k, v in module.state_dict().items()}
        params = {id(p) for p in module.parameters()}
        converted = convert_sync_batchnorm(module)
        kinds = {type(m) for m in converted.modules()}
        assert nn.SyncBatchNorm in kinds and nn.BatchNorm2d not in kinds
        assert states_equal(converted.state_dict(), before)  # same keys, same values
        assert {id(p) for p in converted.parameters()} == params  # the optimiser's tensors


def _force_sync_batchnorm(monkeypatch) -> None:
    """Pretend DDP on a GPU: the loop converts; with no process group SyncBN acts as BN."""
    monkeypatch.setattr(distributed, "use_sync_batchnorm", lambda setting, info, device: True)


def test_loop_converts_g_and_d_and_trains_as_before(monkeypatch, caplog):
    plain = train_gan(build_gan("dcgan", **SMALL), Blobs(), tiny_config())
    _force_sync_batchnorm(monkeypatch)
    gan = build_gan("dcgan", **SMALL)
    with caplog.at_level(logging.INFO, logger="cxr_synth.training"):
        synced = train_gan(gan, Blobs(), tiny_config())
    assert "SyncBatchNorm G and D" in caplog.text
    for module in (gan.generator, gan.discriminator):
        assert any(isinstance(m, nn.SyncBatchNorm) for m in module.modules())
    for part in ("generator", "discriminator"):
        assert states_equal(plain.final_state[part], synced.final_state[part])


def test_d_keeps_per_process_batchnorm_when_its_loss_needs_double_backward(monkeypatch):
    _force_sync_batchnorm(monkeypatch)  # SyncBatchNorm's backward is not differentiable
    gan = build_gan("proposed", **SMALL, d_norm="batch", r1_gamma=1.0, diffaugment="")
    train_gan(gan, Blobs(), tiny_config(epochs=1))
    assert any(isinstance(m, nn.SyncBatchNorm) for m in gan.generator.modules())
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in gan.discriminator.modules())


# --------------------------------------------------------------------------- loader, workers
class NoisyBlobs(Blobs):
    """Blobs plus random noise drawn at load time (like augmentation); logs the reading pid."""

    def __init__(self, log: str) -> None:
        super().__init__()
        self.log = log

    def __getitem__(self, i):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return super().__getitem__(i) + 0.1 * torch.rand(1, 16, 16)


def test_workers_persist_and_resume_stays_exact(tmp_path):
    log = str(tmp_path / "pids.txt")
    full = train_gan(make_tiny_gan(), NoisyBlobs(log), tiny_config(epochs=2, num_workers=1))
    with open(log) as f:
        pids = set(f.read().split())
    assert len(pids) == 1 and str(os.getpid()) not in pids  # one worker for both epochs
    # Per-sample seeds: the worker count and a resume change nothing.
    two = train_gan(make_tiny_gan(), NoisyBlobs(log), tiny_config(epochs=2, num_workers=2))
    ckpt = str(tmp_path / "ckpt")
    train_gan(
        make_tiny_gan(), NoisyBlobs(log), tiny_config(epochs=1, num_workers=1, checkpoint_dir=ckpt)
    )
    resumed = train_gan(
        make_tiny_gan(seed=3),
        NoisyBlobs(log),
        tiny_config(epochs=2, num_workers=1, checkpoint_dir=ckpt, resume=True),
    )
    for run in (two, resumed):
        assert states_equal(full.final_state["generator"], run.final_state["generator"])
