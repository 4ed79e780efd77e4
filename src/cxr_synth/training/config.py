"""Training settings, built from the plain dict of YAML parameters a pipeline passes in."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Loop keys a resumed run may change: they alter speed, logging, safety stops or where files go,
# not the optimisation a checkpoint is in the middle of. Every other key must match the checkpoint.
RESUMABLE_KEYS = frozenset(
    {
        "epochs",
        "resume",
        "device",
        "precision",  # e.g. fp32 to rule out mixed precision after a divergence
        "channels_last",
        "compile",
        "num_workers",
        "micro_batch_size",
        "sync_batchnorm",
        "deterministic",
        "checkpoint_dir",
        "checkpoint_every",
        "keep_last",
        "eval_every",
        "log_every",
        "grid_samples",
        "collapse_threshold",
        "collapse_patience",
    }
)


def reject_unknown_keys(params: Mapping[str, Any], config: type, what: str) -> None:
    """Raise ``ValueError`` naming every key of ``params`` that is not a field of ``config``
    (with the closest valid key: YAML typos must not be silently ignored)."""
    known = {f.name for f in fields(config)}
    unknown = sorted(set(params) - known)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"Unknown {what} parameter(s): {', '.join(hints)}. "
            f"Valid keys: {', '.join(sorted(known))}."
        )


@dataclass(frozen=True)
class TrainConfig:
    """How to train one GAN; every field has a default, so ``TrainConfig()`` is a valid config.

    Units: ``epochs``, ``checkpoint_every`` and ``eval_every`` count epochs; ``log_every`` and
    ``collapse_patience`` count steps (one step = one batch = one discriminator update).
    ``batch_size`` is the global batch of one optimiser step: under DDP each of N processes takes
    ``batch_size / N``, and each process runs its share in forward/backward passes of at most
    ``micro_batch_size`` images, accumulating gradients. The losses, gradients and step count are
    then those of the full batch, whatever N and ``micro_batch_size``; what still depends on them
    is every statistic computed *across* a batch: BatchNorm's (per micro-batch and per process,
    unless ``sync_batchnorm`` shares them across processes), StyleGAN's minibatch-stddev groups,
    and the random numbers drawn inside the objective (augmentation, interpolation weights).
    See docs/training.md, "Batches, micro-batches and GPUs".
    """

    epochs: int = 100
    batch_size: int = 128
    # "auto": cuda, else mps, else cpu; "cuda" under torchrun means cuda:LOCAL_RANK.
    device: str = "auto"
    # "auto": bf16 autocast on CUDA cards that support it, else fp16 autocast + GradScaler;
    # bf16 autocast on CPUs with oneDNN bf16 kernels (AVX-512), else fp32; fp32 on MPS.
    precision: str = "auto"
    channels_last: bool = False  # NHWC tensors for G, D and batches (faster convs with AMP)
    # torch.compile: true = G and D; "generator" = G only. true is refused when the objective
    # needs double backward (gradient penalty, R1), which compiled graphs do not support.
    compile: bool | str = False
    # Images per forward/backward pass in each process; None = the whole per-process batch.
    # Smaller values accumulate gradients over several passes: less memory, same optimiser step.
    micro_batch_size: int | None = None
    # SyncBatchNorm under DDP: "auto" = on with several CUDA processes (BatchNorm statistics over
    # the global batch), off otherwise; true requires CUDA; false keeps per-process BatchNorm.
    sync_batchnorm: bool | str = "auto"
    # DataLoader workers (kept alive across epochs; pin_memory is switched on by itself on CUDA)
    num_workers: int = 0
    seed: int = 0
    checkpoint_dir: str | None = None  # None: no checkpoints (and no resume)
    checkpoint_every: int = 1  # epochs; the last epoch is always checkpointed
    keep_last: int = 3  # newest checkpoints kept; older ones are deleted
    resume: bool = False  # continue from the newest checkpoint in checkpoint_dir, if any
    eval_every: int = 5  # epochs; the last epoch is always evaluated
    max_steps_per_epoch: int | None = None  # cap on steps per epoch (tests, demos)
    log_every: int = 50  # steps between metric logs to the tracker
    # D collapse: stop when the discriminator loss stays below collapse_threshold for
    # collapse_patience consecutive steps. None: off. Only meaningful for objectives whose
    # D loss is bounded below by 0 (non-saturating, hinge); never for WGAN critics.
    collapse_threshold: float | None = None
    collapse_patience: int = 1000
    deterministic: bool = False  # torch.use_deterministic_algorithms; off: cudnn.benchmark
    grid_samples: int = 64  # images in the fixed-noise sample grid logged per evaluation

    def __post_init__(self) -> None:
        problems = []
        for name in ("epochs", "batch_size", "checkpoint_every", "keep_last", "eval_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("log_every", "collapse_patience", "grid_samples"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            problems.append(f"num_workers must be an integer >= 0, got {self.num_workers!r}")
        if self.micro_batch_size is not None and (
            isinstance(self.micro_batch_size, bool)
            or not isinstance(self.micro_batch_size, int)
            or self.micro_batch_size < 1
        ):
            problems.append(
                f"micro_batch_size must be None or an integer >= 1, got {self.micro_batch_size!r}"
            )
        if not (isinstance(self.compile, bool) or self.compile == "generator"):
            problems.append(f"compile must be true, false or 'generator', got {self.compile!r}")
        if not (isinstance(self.sync_batchnorm, bool) or self.sync_batchnorm == "auto"):
            problems.append(
                f"sync_batchnorm must be true, false or 'auto', got {self.sync_batchnorm!r}"
            )
        if self.max_steps_per_epoch is not None and (
            not isinstance(self.max_steps_per_epoch, int) or self.max_steps_per_epoch < 1
        ):
            problems.append(
                f"max_steps_per_epoch must be None or >= 1, got {self.max_steps_per_epoch!r}"
            )
        if self.device.split(":")[0] not in DEVICES:
            problems.append(
                f"device must be one of {DEVICES} (optionally 'cuda:N'), got {self.device!r}"
            )
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.resume and self.checkpoint_dir is None:
            problems.append("resume: true needs a checkpoint_dir")
        if problems:
            raise ValueError("Invalid training config: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, params: dict[str, Any] | None) -> TrainConfig:
        """Build from YAML parameters; unknown keys raise ``ValueError`` naming the close match."""
        params = dict(params or {})
        reject_unknown_keys(params, cls, "training")
        if params.get("checkpoint_dir") is not None:
            params["checkpoint_dir"] = str(params["checkpoint_dir"])
        return cls(**params)

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else Path(self.checkpoint_dir)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _plain(value: Any) -> Any:
    """Tuples as lists (YAML gives lists, builders tuples), recursively, for comparisons."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def changed_settings(
    saved: Mapping[str, Any],
    current: Mapping[str, Any],
    prefix: str,
    ignore: frozenset[str] = frozenset(),
) -> list[str]:
    """``"prefix.key old → new"`` for every key both mappings hold with different values.

    Keys in ``ignore`` and keys only one side has (settings added or removed since the
    checkpoint was written) are skipped.
    """
    return [
        f"{prefix}.{key} {saved[key]!r} → {current[key]!r}"
        for key in sorted(set(saved) & set(current) - ignore)
        if _plain(saved[key]) != _plain(current[key])
    ]
