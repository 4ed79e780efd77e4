"""Data-parallel training with PyTorch DDP, when the process was launched by ``torchrun``.

``torchrun --nproc_per_node=N ...`` sets RANK, WORLD_SIZE and LOCAL_RANK; :func:`init_distributed`
reads them and joins the process group (NCCL on CUDA, Gloo otherwise). Without them everything
here degrades to single-process no-ops, so the loop has one code path.

Conventions (kept simple on purpose):
- Every rank holds identical G and D parameters (DDP broadcasts rank 0's at wrap time and
  all-reduces gradients); only rank 0 writes checkpoints, logs to the tracker and evaluates.
- ``broadcast_buffers=False``: broadcasting buffers on each of D's several forwards per step is
  what breaks GAN backward passes in DDP. With ``sync_batchnorm`` active (the default with
  several CUDA processes) BatchNorm layers become ``nn.SyncBatchNorm``: batch statistics over
  the global batch, as on one GPU. Otherwise (CPU/gloo: SyncBatchNorm has no CPU kernels; or
  ``sync_batchnorm: false``) each process normalises over its own share. Either way running
  stats are averaged across ranks at the end of every epoch, so checkpoints and evaluations see
  synchronised buffers.
- Checkpoints live on a filesystem every rank can read (single node, or shared storage).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from cxr_synth.runtime.rank import local_rank

# Devices with SyncBatchNorm kernels (torch 2.14 raises "SyncBatchNorm expected input tensor to
# be on GPU" for any other device, CPU included).
SYNC_BATCHNORM_DEVICES = ("cuda", "xpu", "hpu")


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands; ``world_size == 1`` means no process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # True when init_distributed created the group (and must destroy it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_distributed() -> bool:
    """True under ``torchrun`` with more than one process (or with a group already set up)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: torch.device, timeout_s: float = 3600.0) -> DistInfo:
    """Join (or reuse) the process group described by RANK/WORLD_SIZE/LOCAL_RANK.

    ``timeout_s`` is long because rank 0 evaluates (FID) while the other ranks wait.
    """
    if not launched_distributed():
        return DistInfo()
    owns = not dist.is_initialized()
    if owns:
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {}
        if device.type == "cuda":
            kwargs["device_id"] = device
        dist.init_process_group(
            backend=backend, timeout=datetime.timedelta(seconds=timeout_s), **kwargs
        )
    return DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank(),
        owns_group=owns,
    )


def cleanup(info: DistInfo) -> None:
    """Destroy the process group if :func:`init_distributed` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """Wrap in DDP when distributed (see module doc for the BatchNorm choice); else unchanged."""
    if not info.enabled:
        return module
    device_ids = [device] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, broadcast_buffers=False)


def no_sync(module: nn.Module):
    """Skip DDP's gradient all-reduce for the next backward (D during the G step)."""
    if isinstance(module, DistributedDataParallel):
        return module.no_sync()
    return contextlib.nullcontext()


def sync_gradients(module: nn.Module, sync: bool):
    """All-reduce gradients in the next backward only when ``sync`` (the last micro-batch)."""
    return contextlib.nullcontext() if sync else no_sync(module)


def use_sync_batchnorm(setting: bool | str, info: DistInfo, device: torch.device) -> bool:
    """Whether to convert BatchNorm to SyncBatchNorm: only under DDP; ``"auto"`` where the
    device has SyncBatchNorm kernels; ``True`` on a device without them is an error."""
    if not info.enabled or setting is False:
        return False
    supported = device.type in SYNC_BATCHNORM_DEVICES
    if setting is True and not supported:
        raise ValueError(
            f"sync_batchnorm: true needs a GPU; SyncBatchNorm has no {device.type} "
            "implementation in this torch. Set sync_batchnorm: auto or false (per-process "
            "BatchNorm)."
        )
    return supported


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Every BatchNorm*d in ``module`` replaced by SyncBatchNorm sharing its parameters and
    buffers (same state_dict keys and values)."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def make_sampler(dataset: Dataset, info: DistInfo, seed: int) -> DistributedSampler:
    """A shuffling sampler over this rank's shard; ``set_epoch(e)`` reseeds it with ``seed + e``.

    Used in single-process runs too (one replica), so the order of epoch ``e`` depends only on
    ``seed`` and ``e`` — never on whether the run was resumed.
    """
    return DistributedSampler(
        dataset,
        num_replicas=info.world_size,
        rank=info.rank,
        shuffle=True,
        seed=seed,
        drop_last=True,
    )


class _EpochTagged(Sampler):
    """Yields ``(epoch, index)``: workers learn the epoch without being restarted."""

    def __init__(self, sampler: DistributedSampler) -> None:
        self.sampler, self.epoch = sampler, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, i) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class _SeededPerSample(Dataset):
    """``dataset[i]`` with every RNG of the (worker) process seeded from (seed, epoch, i), so
    random augmentation depends on neither the number of workers nor a resume."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        seed = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0])
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        return self.dataset[index]


def make_loader(
    dataset: Dataset,
    sampler: DistributedSampler,
    *,
    batch_size: int,
    num_workers: int,
    seed: int,
    pin_memory: bool,
) -> tuple[DataLoader, Sampler]:
    """One DataLoader for the whole run, and the sampler to ``set_epoch`` before each epoch.

    Without workers, samples are read in this process with its RNG (as always). With workers,
    they stay alive across epochs (``persistent_workers``) and each sample is drawn with its own
    seed (``_SeededPerSample``): a worker's RNG no longer carries over from epoch to epoch, so
    epoch ``e`` reads and augments the same images whether or not the run was resumed.
    """
    if num_workers > 0:
        dataset, sampler = _SeededPerSample(dataset, seed), _EpochTagged(sampler)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=True,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),  # the loader's draws leave torch's alone
    )
    return loader, sampler


def all_reduce_mean(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``tensor`` over ranks (in place); unchanged when not distributed."""
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= info.world_size
    return tensor


@torch.no_grad()
def average_buffers(module: nn.Module, info: DistInfo) -> None:
    """Average floating-point buffers (BatchNorm running stats) over ranks."""
    if not info.enabled:
        return
    for buffer in module.buffers():
        if buffer.is_floating_point():
            all_reduce_mean(buffer, info)


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """``[obj_rank0, obj_rank1, ...]`` on every rank; ``[obj]`` when not distributed."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
