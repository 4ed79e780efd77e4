"""Device, mixed-precision and gradient-scaler choices, each made in one place.

Precision "auto" and ``channels_last: auto`` (decided here; the CPU figures are in STACK.md):
- CUDA: bf16 autocast when the card computes bf16 natively (compute capability >= 8.0: Ampere
  and newer; every ROCm card). bf16 has fp32's range, so it needs no GradScaler — which matters
  for GANs, whose gradient penalties call ``autograd.grad`` on unscaled losses. Older cards
  (V100, T4: ``torch.cuda.is_bf16_supported()`` says True there, because bf16 is *emulated*)
  get fp16 autocast + a GradScaler. :func:`cuda_mixed_precision` decides, for the GANs and the
  U-Net alike.
- CPU: *measured once per machine* (:func:`cpu_auto_settings`): a few forward/backward steps of
  a small conv net in fp32 and bf16 autocast, each contiguous and channels_last. channels_last
  is taken if it beats contiguous by ``MARGIN``; bf16, which changes the numerics, only if it
  beats the chosen fp32 variant by ``REDUCED_MARGIN`` (bf16 doubles throughput on some AVX-512
  CPUs, is within noise on others and 2.5-20x slower on AVX2-only ones, where oneDNN may still
  claim bf16); a margin within 10 % of that threshold is measured twice more (median). The
  choice and why are logged, and cached in ``$CXR_SYNTH_CACHE_DIR/cpu_auto_v2.json`` (default
  ``$XDG_CACHE_HOME/cxr_synth/``, else ``~/.cache/cxr_synth/``), one entry per machine
  fingerprint (:func:`machine_fingerprint`), so every later run on that machine takes the same
  path: same config and seed, same weights. Delete the file to measure again. The resolved
  values are recorded (``train.resolved_precision``, ``train.resolved_channels_last``).
- channels_last "auto" is off on CUDA and MPS; MPS precision is fp32.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import fcntl
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from cxr_synth.runtime.atomic import atomic_write
from cxr_synth.runtime.errors import UserError
from cxr_synth.runtime.schema import check_device
from cxr_synth.training.util import isolated_rng

logger = logging.getLogger(__name__)

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
CACHE_ENV = "CXR_SYNTH_CACHE_DIR"
CACHE_FILE = "cpu_auto_v2.json"  # v2: the REDUCED_MARGIN rule (v1 took bf16 at 10 %)
MARGIN = 1.10  # channels_last must be >= 10 % faster than contiguous to be chosen
REDUCED_MARGIN = 1.25  # bf16 must be >= 25 % faster than fp32: it changes every number
THIN = 1.10  # a bf16 ratio within 10 % of REDUCED_MARGIN is measured again
# (precision, channels_last), fp32/contiguous first: the default and the baseline
VARIANTS = (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True))


class DeviceError(UserError, ValueError):
    """A device that is not one, or not on this machine."""


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` → cuda, else mps, else cpu; a name that is no device, or a forced device that
    is absent, raises :class:`DeviceError`."""
    try:
        check_device(name)
    except ValueError:
        raise DeviceError(f"device {name!r} is none of auto, cpu, cuda, cuda:N, mps") from None
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} asked for, but CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {name!r} asked for, but MPS is not available on this machine")
    return device


def resolve_settings(
    device: torch.device, precision: str = "auto", channels_last: bool | str = False
) -> tuple[str, bool]:
    """Turn ``"auto"`` precision and layout into ``("fp32" | "bf16" | "fp16", channels_last)``
    for ``device`` (see module doc). On the CPU, "auto" takes this machine's measured variant:
    :func:`choose_variant` among those an explicit setting leaves (``precision: bf16,
    channels_last: auto`` compares bf16 contiguous with bf16 channels_last). Elsewhere
    ``channels_last: auto`` is off."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if channels_last not in (True, False, "auto"):
        raise ValueError(f"channels_last must be true, false or auto, got {channels_last!r}")
    if device.type == "cpu" and "auto" in (precision, channels_last):
        allowed = [
            variant
            for variant in VARIANTS
            if precision in ("auto", variant[0]) and channels_last in ("auto", variant[1])
        ]
        if allowed:  # empty for fp16: no measured fp16 variants on the CPU
            return choose_variant(cpu_auto_settings()["seconds_per_step"], allowed)
    if precision == "auto":
        precision = cuda_mixed_precision(device) if device.type == "cuda" else "fp32"
    return precision, channels_last is True


def resolve_precision(
    device: torch.device, precision: str = "auto", channels_last: bool | str = "auto"
) -> str:
    """The precision half of :func:`resolve_settings`."""
    return resolve_settings(device, precision, channels_last)[0]


def variant_name(precision: str, channels_last: bool) -> str:
    return precision + ("+cl" if channels_last else "")


def cache_dir() -> Path:
    """``$CXR_SYNTH_CACHE_DIR``, else ``$XDG_CACHE_HOME/cxr_synth``, else ``~/.cache/cxr_synth``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cxr_synth"


def machine_fingerprint() -> str:
    """CPU model, usable cores, torch threads, torch version and CPU capability (AVX2, ...)."""
    model = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{model or 'unknown CPU'} | {cores} cores | {torch.get_num_threads()} threads | "
        f"torch {torch.__version__} | {torch.backends.cpu.get_cpu_capability()}"
    )


def _probe_net(width: int = 16) -> torch.nn.Module:
    """A DCGAN-like G -> D stack (4x4 stride-2 (transposed) convs, BatchNorm), 4² -> 32²."""
    nn = torch.nn
    return nn.Sequential(
        nn.ConvTranspose2d(32, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh(),
        nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * width, 1, 4, 2, 1),
    )  # fmt: skip


def measure_cpu_variants(
    rounds: int = 40, budget_s: float = 2.0, warmup: int = 2
) -> dict[str, float]:
    """Seconds per forward/backward step (batch 16) of :func:`_probe_net` for each of
    :data:`VARIANTS`: the fastest of up to ``rounds`` steps run in turn (the minimum is what a
    busy machine distorts least), after ``warmup`` rounds (the first steps are several times
    slower). Each variant gets an equal share of ``budget_s``, so a slow one (bf16 on AVX2-only
    CPUs: 5-20x) gets fewer steps, not more time. RNG states are left as they were."""
    with isolated_rng(0):
        net = _probe_net()
        x = torch.randn(16, 32, 4, 4)
        layouts = {False: (net, x), True: (copy.deepcopy(net), x)}
        layouts[True] = tuple(t.to(memory_format=torch.channels_last) for t in layouts[True])
        best = {variant: float("inf") for variant in VARIANTS}
        spent = dict.fromkeys(VARIANTS, 0.0)
        for r in range(warmup + rounds):
            for variant in [v for v in VARIANTS if spent[v] < budget_s / len(VARIANTS)]:
                model, batch = layouts[variant[1]]
                start = time.perf_counter()
                with autocast_context(torch.device("cpu"), variant[0]):
                    loss = model(batch).float().square().mean()
                loss.backward()
                if r >= warmup:
                    seconds = time.perf_counter() - start
                    best[variant] = min(best[variant], seconds)
                    spent[variant] += seconds
    return {variant_name(*variant): value for variant, value in best.items()}


def choose_variant(
    seconds: dict[str, float],
    candidates: Sequence[tuple[str, bool]] = VARIANTS,
    margin: float = MARGIN,
    reduced_margin: float = REDUCED_MARGIN,
) -> tuple[str, bool]:
    """From ``candidates`` (the first is the baseline) and ``seconds`` per step
    (:func:`variant_name` keys): the fp32 layout that beats the first by ``margin``, then a
    reduced precision only if its fastest variant beats that by ``reduced_margin``."""

    def faster(options: list[tuple[str, bool]]) -> tuple[str, bool]:
        fastest = min(options, key=lambda v: seconds[variant_name(*v)])
        base = seconds[variant_name(*options[0])]
        return fastest if base >= margin * seconds[variant_name(*fastest)] else options[0]

    full = [v for v in candidates if v[0] == "fp32"]
    reduced = [v for v in candidates if v[0] != "fp32"]
    if not full:  # the precision was given: only the layout is chosen
        return faster(reduced)
    chosen = faster(full)
    if reduced and reduced_speedup(seconds, candidates) >= reduced_margin:
        return min(reduced, key=lambda v: seconds[variant_name(*v)])
    return chosen


def reduced_speedup(
    seconds: dict[str, float], candidates: Sequence[tuple[str, bool]] = VARIANTS
) -> float:
    """How many times faster the fastest reduced-precision candidate is than the fastest fp32."""
    time = {precision: min(seconds[variant_name(p, cl)] for p, cl in candidates if p == precision)
            for precision in {p for p, _ in candidates}}  # fmt: skip
    reduced = [t for p, t in time.items() if p != "fp32"]
    return time["fp32"] / min(reduced) if reduced and "fp32" in time else 0.0


def cpu_auto_settings(measure: Callable[[], dict[str, float]] | None = None) -> dict[str, object]:
    """This machine's CPU training settings ``{"precision", "channels_last", ...}``: from the
    cache (see module doc), else measured by ``measure`` (seconds per variant; default
    :func:`measure_cpu_variants`) and cached. Under ``torch.distributed`` every rank takes rank
    0's decision."""
    measure = measure or measure_cpu_variants
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        decision = [_cached_or_measured(measure) if torch.distributed.get_rank() == 0 else None]
        torch.distributed.broadcast_object_list(decision, src=0)
        return decision[0]
    return _cached_or_measured(measure)


def _cached_or_measured(measure: Callable[[], dict[str, float]]) -> dict[str, object]:
    path, key = cache_dir() / CACHE_FILE, machine_fingerprint()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_suffix(".lock"), "a")  # held until the decision is cached
    except OSError as error:
        logger.warning("cannot use the cache %s (%s): measuring, not caching", path, error)
        return _decide(measure, key)
    with lock:
        with contextlib.suppress(OSError):  # file systems without locks: unserialised
            fcntl.flock(lock, fcntl.LOCK_EX)  # one process measures at a time; the rest read
        machines = _read_cache(path)
        if key in machines:
            return machines[key]
        machines[key] = _decide(measure, key)
        try:
            with atomic_write(path, "w") as handle:
                json.dump({"machines": machines}, handle, indent=2)
        except OSError as error:
            logger.warning("cannot write the cache %s (%s): not cached", path, error)
        return machines[key]


def _read_cache(path: Path) -> dict[str, dict]:
    """The cached entries, ``{}`` if there is no file; a corrupt file is warned about."""
    if not path.exists():
        return {}
    try:
        machines = json.loads(path.read_text())["machines"]
        names = {variant_name(*variant) for variant in VARIANTS}
        if all(
            (entry["precision"], entry["channels_last"]) in VARIANTS
            and {k for k, v in entry["seconds_per_step"].items() if v > 0} >= names
            for entry in machines.values()
        ):
            return machines
        error: Exception = ValueError("unknown variant or timings")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as caught:
        error = caught
    logger.warning("%s is not a valid cache (%r): measuring again", path, error)
    return {}


def _decide(measure: Callable[[], dict[str, float]], key: str) -> dict[str, object]:
    seconds = measure()
    if REDUCED_MARGIN / THIN <= reduced_speedup(seconds) <= REDUCED_MARGIN * THIN:
        runs = [seconds, measure(), measure()]  # a thin margin: the median of three
        seconds = {name: sorted(run[name] for run in runs)[1] for name in seconds}
    precision, channels_last = choose_variant(seconds)
    logger.info(
        "CPU auto settings for %s: %s (bf16 is %.2fx as fast as fp32, taken from %.2fx; "
        "channels_last from %.2fx; ms per step: %s)", key, variant_name(precision, channels_last),
        reduced_speedup(seconds), REDUCED_MARGIN, MARGIN,
        {k: round(v * 1e3, 2) for k, v in seconds.items()},
    )  # fmt: skip
    return {
        "precision": precision,
        "channels_last": channels_last,
        "seconds_per_step": seconds,
        "measured": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


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
