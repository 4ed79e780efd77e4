"""Device, precision and scaler choices."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from cxr_synth.runtime import devices
from cxr_synth.runtime.devices import (
    CACHE_ENV,
    CACHE_FILE,
    autocast_context,
    choose_variant,
    cpu_auto_settings,
    gpu_mixed_precision,
    make_grad_scaler,
    resolve_device,
    resolve_precision,
)
from cxr_synth.segmentation import train as segmentation_train
from cxr_synth.segmentation.evaluate import segmentation_precision
from cxr_synth.training import train_gan
from tests.training import Blobs, make_tiny_gan, tiny_config
from tests.training.test_loop import RecordingTracker

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


def test_resolve_precision(cache, monkeypatch):
    monkeypatch.setattr(devices, "measure_cpu_variants", lambda: seconds(bf16=0.5))
    assert resolve_precision(CPU, "auto") == "bf16"  # measured (injected), then cached
    monkeypatch.setattr(devices, "measure_cpu_variants", lambda: seconds())
    assert resolve_precision(CPU, "auto") == "bf16"  # the cached decision, not a new one
    assert resolve_precision(CPU, "fp32") == "fp32"
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


# ----------------------------------------------------------- CPU "auto": measured once, cached
def seconds(**faster: float) -> dict[str, float]:
    """Injected seconds per step: 1.0 for every variant but the ones given."""
    return {"fp32": 1.0, "fp32+cl": 1.0, "bf16": 1.0, "bf16+cl": 1.0, **faster}


class Measure:
    """A measurement to inject: counts its calls, never times anything."""

    def __init__(self, **faster: float) -> None:
        self.result, self.calls = seconds(**faster), 0

    def __call__(self) -> dict[str, float]:
        self.calls += 1
        return self.result


def never() -> dict[str, float]:
    raise AssertionError("measured although the decision is cached")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The cache file in a throw-away folder (the suite never touches the user's cache)."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    return tmp_path / CACHE_FILE


def test_cache_miss_measures_and_writes(cache):
    measure = Measure(bf16=0.5)
    settings = cpu_auto_settings(measure)
    assert measure.calls == 1
    assert (settings["precision"], settings["channels_last"]) == ("bf16", False)
    entry = json.loads(cache.read_text())["machines"][devices.machine_fingerprint()]
    assert entry["precision"] == "bf16" and entry["seconds_per_step"] == seconds(bf16=0.5)


def test_cache_hit_does_not_measure(cache):
    first = cpu_auto_settings(Measure(**{"fp32+cl": 0.8}))
    assert cpu_auto_settings(never) == first
    assert (first["precision"], first["channels_last"]) == ("fp32", True)


def test_another_machine_measures_again_and_keeps_both(cache, monkeypatch):
    cpu_auto_settings(Measure(bf16=0.5))
    monkeypatch.setattr(devices, "machine_fingerprint", lambda: "another CPU | AVX2")
    measure = Measure()
    assert cpu_auto_settings(measure)["precision"] == "fp32" and measure.calls == 1
    assert len(json.loads(cache.read_text())["machines"]) == 2
    monkeypatch.undo()
    monkeypatch.setenv(CACHE_ENV, str(cache.parent))
    assert cpu_auto_settings(never)["precision"] == "bf16"  # the first machine's entry is kept


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"machines": []}',
        '{"machines": {"x": "bf16"}}',
        '{"machines": {"x": {"precision": "fp8", "channels_last": false}}}',
    ],
)
def test_a_corrupt_cache_is_measured_again_with_a_warning(cache, caplog, text):
    cache.write_text(text)
    measure = Measure(bf16=0.5)
    with caplog.at_level(logging.WARNING, logger=devices.__name__):
        assert cpu_auto_settings(measure)["precision"] == "bf16"
    assert measure.calls == 1 and "not a valid cache" in caplog.text
    assert cpu_auto_settings(never)["precision"] == "bf16"  # rewritten, valid again


def test_an_unusable_cache_folder_measures_without_caching(tmp_path, monkeypatch, caplog):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "file" / "cache"))
    with caplog.at_level(logging.WARNING, logger=devices.__name__):
        assert cpu_auto_settings(Measure(bf16=0.5))["precision"] == "bf16"
    assert "cannot use the cache" in caplog.text


@pytest.mark.parametrize(
    "faster, expected",
    [
        ({}, ("fp32", False)),  # all equal: the default
        ({"bf16": 0.95}, ("fp32", False)),  # 5 % faster: within noise, not taken
        ({"bf16": 0.85}, ("fp32", False)),  # 1.18x: under bf16's 25 % margin
        ({"bf16": 0.79}, ("bf16", False)),  # 1.27x
        ({"bf16": 0.85, "bf16+cl": 0.6}, ("bf16", True)),  # the fastest of those that pay
        ({"fp32+cl": 0.88, "bf16+cl": 0.85}, ("fp32", True)),  # 1.04x over fp32+cl: not taken
        ({"fp32+cl": 0.95}, ("fp32", False)),  # channels_last 5 % faster: within noise
        ({"fp32": 0.5, "bf16": 0.55}, ("fp32", False)),  # bf16 slower than fp32 (AVX2)
        ({"fp32+cl": 0.7, "bf16": 3.0}, ("fp32", True)),
    ],
)
def test_a_variant_is_chosen_only_when_faster_by_the_margin(faster, expected):
    assert choose_variant(seconds(**faster)) == expected


def test_a_thin_margin_is_measured_again_and_the_median_decides(cache):
    runs = iter([seconds(bf16=0.78), seconds(bf16=0.9), seconds(bf16=0.85)])  # 1.28, 1.11, 1.18
    calls = []

    def measure():
        calls.append(1)
        return next(runs)

    assert cpu_auto_settings(measure)["precision"] == "fp32" and len(calls) == 3
    clear = Measure(bf16=0.5)  # 2x: no second look
    assert devices._decide(clear, "m")["precision"] == "bf16" and clear.calls == 1


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert devices.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert devices.cache_dir() == tmp_path / "xdg" / "cxr_synth"


def test_the_real_measurement_times_every_variant_and_leaves_the_rng_alone():
    state = torch.get_rng_state()
    measured = devices.measure_cpu_variants(rounds=1, budget_s=1e-9, warmup=0)
    assert set(measured) == {"fp32", "fp32+cl", "bf16", "bf16+cl"}
    assert all(value > 0 for value in measured.values())
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize(
    "precision, channels_last, expected",
    [
        ("auto", "auto", ("bf16", True)),  # the fastest of all four
        ("auto", False, ("bf16", False)),  # the layout is given: fp32 vs bf16, contiguous
        ("auto", True, ("bf16", True)),
        ("fp32", "auto", ("fp32", True)),  # the precision is given: which layout pays for it
        ("bf16", "auto", ("bf16", True)),
    ],
)
def test_auto_settles_what_explicit_settings_leave(cache, precision, channels_last, expected):
    cpu_auto_settings(Measure(**{"fp32+cl": 0.8, "bf16": 0.7, "bf16+cl": 0.5}))
    assert devices.resolve_settings(CPU, precision, channels_last) == expected


def test_explicit_settings_and_other_devices_never_measure(cache, monkeypatch):
    monkeypatch.setattr(devices, "measure_cpu_variants", never)
    assert devices.resolve_settings(CPU, "bf16", True) == ("bf16", True)
    assert devices.resolve_settings(CPU, "fp16", "auto") == ("fp16", False)  # fp16 not measured
    assert devices.resolve_settings(torch.device("mps"), "auto", "auto") == ("fp32", False)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert devices.resolve_settings(torch.device("cuda"), "auto", "auto") == ("bf16", False)
    assert not cache.exists()
    with pytest.raises(ValueError, match="channels_last must be"):
        devices.resolve_settings(CPU, "auto", "yes")


def test_the_loop_trains_with_and_records_the_cached_choice(cache):
    cpu_auto_settings(Measure(**{"fp32+cl": 0.5}))
    config = tiny_config(precision="auto", channels_last="auto", epochs=1)
    runs = [train_gan(make_tiny_gan(), Blobs(), config, tracker=RecordingTracker()) for _ in "ab"]
    first, again = (run.final_state["generator"] for run in runs)
    assert all(torch.equal(first[k], again[k]) for k in first)  # a seed means a result
    tracker, gan = RecordingTracker(), make_tiny_gan()
    train_gan(gan, Blobs(), config, tracker=tracker)
    weight = gan.generator.up1.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    params = {k: v for logged in tracker.params for k, v in logged.items()}
    assert params["train.resolved_precision"] == "fp32"
    assert params["train.resolved_channels_last"] is True
    assert params["train.channels_last"] == "auto"
