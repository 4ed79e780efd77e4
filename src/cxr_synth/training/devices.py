"""Device, mixed-precision and gradient-scaler choices, each made in one place.

Precision "auto" (decided here, measured in STACK.md):
- CUDA: bf16 autocast when the card computes bf16 natively (compute capability >= 8.0: Ampere
  and newer; every ROCm card). bf16 has fp32's range, so it needs no GradScaler — which matters
  for GANs, whose gradient penalties call ``autograd.grad`` on unscaled losses. Older cards
  (V100, T4: ``torch.cuda.is_bf16_supported()`` says True there, because bf16 is *emulated*)
  get fp16 autocast + a GradScaler. :func:`cuda_mixed_precision` decides, for the GANs and the
  U-Net alike.
- CPU: bf16 autocast when oneDNN has bf16 kernels for this CPU (AVX-512 or newer; about twice
  the fp32 throughput on the project's AVX-512 machines), else fp32 (on AVX2-only CPUs bf16 is
  emulated and slower).
- MPS: fp32.
"""

from __future__ import annotations

import contextlib
import functools

import torch

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` → cuda, else mps, else cpu; a forced device that is absent raises ``ValueError``."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} asked for, but MPS is not available on this machine")
    return device


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN ships bf16 kernels for this CPU (AVX-512 BW/VL/DQ or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # private API: absent in some builds
        return False


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """Turn ``"auto"`` into ``"fp32"``, ``"bf16"`` or ``"fp16"`` for ``device`` (see module doc)."""
    if precision != "auto":
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
        return precision
    if device.type == "cuda":
        return cuda_mixed_precision(device)
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def cuda_mixed_precision(device: torch.device | None = None) -> str:
    """``"bf16"`` where the card has native bf16 (compute capability >= 8.0, or ROCm), else
    ``"fp16"`` (with a GradScaler): emulated bf16 on pre-Ampere cards is slower than fp16."""
    if torch.version.hip:
        return "bf16"
    index = device.index if device is not None and device.index is not None else None
    major, _ = torch.cuda.get_device_capability(index)
    return "bf16" if major >= 8 else "fp16"


def gpu_mixed_precision(device: torch.device) -> str:
    """Mixed precision on CUDA (:func:`cuda_mixed_precision`), fp32 elsewhere (the U-Net's rule)."""
    return cuda_mixed_precision(device) if device.type == "cuda" else "fp32"


def autocast_context(device: torch.device, precision: str):
    """The autocast context for a resolved precision; a no-op context for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def make_grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 and fp32 need no loss scaling)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
