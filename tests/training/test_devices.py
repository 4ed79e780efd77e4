"""Device, precision and scaler choices."""

from __future__ import annotations

import pytest
import torch

from cxr_synth.segmentation import train as segmentation_train
from cxr_synth.segmentation.evaluate import segmentation_precision
from cxr_synth.training.devices import (
    autocast_context,
    cpu_has_fast_bf16,
    gpu_mixed_precision,
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


@pytest.mark.parametrize(
    "capability, expected",
    [((6, 0), "fp16"), ((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"), ((9, 0), "bf16")],
)
def test_auto_precision_on_cuda_wants_native_bf16(monkeypatch, capability, expected):
    """P100/V100/T4 (< 8.0) report is_bf16_supported() == True (emulated): fp16 + GradScaler."""
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    cuda = torch.device("cuda")
    assert resolve_precision(cuda, "auto") == expected
    assert resolve_precision(torch.device("cuda", 1), "auto") == expected
    assert resolve_precision(cuda, "fp32") == "fp32"  # an explicit choice is kept
    # The U-Net (training and prediction) uses the same rule on CUDA, fp32 elsewhere.
    assert gpu_mixed_precision(cuda) == expected
    assert segmentation_precision(cuda) == expected
    assert gpu_mixed_precision(CPU) == "fp32" and segmentation_precision(CPU) == "fp32"


def test_rocm_has_native_bf16(monkeypatch):
    monkeypatch.setattr(torch.version, "hip", "6.4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (0, 0))
    assert resolve_precision(torch.device("cuda"), "auto") == "bf16"


def test_unet_training_uses_the_shared_helper():
    assert segmentation_train.gpu_mixed_precision is gpu_mixed_precision
