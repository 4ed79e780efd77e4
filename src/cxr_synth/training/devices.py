"""Device, mixed-precision and gradient-scaler choices, each made in one place.

Precision "auto" (decided here, measured in STACK.md):
- CUDA: bf16 autocast when the card supports it (Ampere and newer). bf16 has fp32's range, so it
  needs no GradScaler — which matters for GANs, whose gradient penalties call ``autograd.grad``
  on unscaled losses. Older cards get fp16 autocast + a GradScaler.
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
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def autocast_context(device: torch.device, precision: str):
    """The autocast context for a resolved precision; a no-op context for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def make_grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 and fp32 need no loss scaling)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
