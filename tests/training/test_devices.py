"""Device, precision and scaler choices."""

from __future__ import annotations

import pytest
import torch

from cxr_synth.training.devices import (
    autocast_context,
    cpu_has_fast_bf16,
    make_grad_scaler,
    resolve_device,
    resolve_precision,
)

CPU = torch.device("cpu")


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_forced_missing_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_resolve_precision():
    assert resolve_precision(CPU, "auto") == ("bf16" if cpu_has_fast_bf16() else "fp32")
    assert resolve_precision(CPU, "bf16") == "bf16"
    assert resolve_precision(torch.device("mps"), "auto") == "fp32"
    with pytest.raises(ValueError):
        resolve_precision(CPU, "fp8")


def test_autocast_context_on_cpu():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast_context(CPU, "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with autocast_context(CPU, "fp32"):
        assert (a @ b).dtype == torch.float32


def test_grad_scaler_only_for_fp16():
    assert not make_grad_scaler(CPU, "bf16").is_enabled()
    assert not make_grad_scaler(CPU, "fp32").is_enabled()
    assert make_grad_scaler(CPU, "fp16").is_enabled()
