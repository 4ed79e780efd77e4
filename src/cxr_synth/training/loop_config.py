"""Training settings (``training.loop``): a typed model Kedro validates before the run, and the
library's config object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, create_model
from pydantic.fields import FieldInfo

from cxr_synth.runtime.schema import Bool, Count, Device, Float, Int, PathStr, StrictModel

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


class TrainConfig(StrictModel):
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

    epochs: Count = 100  # passes over the training images
    batch_size: Count = 128  # global batch of one optimiser step
    # "auto": cuda, else mps, else cpu; "cuda" under torchrun means cuda:LOCAL_RANK.
    device: Device = "auto"
    # "auto": bf16 autocast on CUDA cards with native bf16 (compute capability >= 8.0), else fp16
    # autocast + GradScaler; on CPUs bf16 only where a one-off measurement, cached per machine,
    # found it faster (runtime/devices.py); MPS fp32.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # NHWC tensors for G, D and batches (faster convs with AMP); "auto": on CPUs where the same
    # cached measurement found it faster, off on GPUs and MPS.
    channels_last: Bool | Literal["auto"] = False
    # torch.compile: true = G and D; "generator" = G only. true is refused when the objective
    # needs double backward (gradient penalty, R1), which compiled graphs do not support.
    compile: Bool | Literal["generator"] = False
    # Images per forward/backward pass in each process; None = the whole per-process batch.
    # Smaller values accumulate gradients over several passes: less memory, same optimiser step.
    micro_batch_size: Count | None = None
    # SyncBatchNorm under DDP: "auto" = on with several CUDA processes (BatchNorm statistics over
    # the global batch), off otherwise; true requires CUDA; false keeps per-process BatchNorm.
    sync_batchnorm: Bool | Literal["auto"] = "auto"
    # DataLoader workers (kept alive across epochs; pin_memory is switched on by itself on CUDA)
    num_workers: Annotated[Int, Field(ge=0)] = 0
    seed: Int = 0  # initial weights, data order, augmentation, latent noise
    checkpoint_dir: PathStr | None = None  # None: no checkpoints (and no resume)
    checkpoint_every: Count = 1  # epochs; the last epoch is always checkpointed
    keep_last: Count = 3  # newest checkpoints kept; older ones are deleted
    resume: Bool = False  # continue from the newest checkpoint in checkpoint_dir (none: a warning)
    eval_every: Count = 5  # epochs; the last epoch is always evaluated
    max_steps_per_epoch: Count | None = None  # cap on steps per epoch (tests, demos)
    log_every: Count = 50  # steps between metric logs to the tracker
    # D collapse: stop when the discriminator loss stays below collapse_threshold for
    # collapse_patience consecutive steps. None: off. Only meaningful for objectives whose
    # D loss is bounded below by 0 (non-saturating, hinge); never for WGAN critics.
    collapse_threshold: Float | None = None
    collapse_patience: Count = 1000  # steps
    # torch.use_deterministic_algorithms (+ cuDNN benchmarking off); docs/reliability.md says
    # what that does and does not make bit-identical on GPUs.
    deterministic: Bool = False
    grid_samples: Count = 64  # images in the fixed-noise sample grid logged per evaluation

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None, prefix: str = "") -> TrainConfig:
        """Build from YAML parameters (errors name ``prefix.key``)."""
        return cls.parse(params, prefix=prefix)

    def override(self, changes: Any = None, prefix: str = "") -> TrainConfig:
        """This config with ``changes`` (a ``LoopOverrides`` or a dict) applied, validated again."""
        if isinstance(changes, StrictModel):
            changes = changes.model_dump(exclude_unset=True)
        return TrainConfig.parse({**self.model_dump(), **dict(changes or {})}, prefix=prefix)


def _optional(field: FieldInfo) -> Any:
    """A field's type with its constraints (ge=1, ...), or None."""
    constrained = (
        Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    )
    return constrained | None


LoopOverrides = create_model(
    "LoopOverrides",
    __base__=StrictModel,
    __doc__="Per-architecture changes to ``training.loop`` (``<arch>.loop``): any TrainConfig "
    "key, with the same types and ranges; keys not given keep the shared value.",
    **{name: (_optional(field), None) for name, field in TrainConfig.model_fields.items()},
)


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
