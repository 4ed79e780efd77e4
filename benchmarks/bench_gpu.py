"""The first-GPU-run benchmark: the training loop per architecture at the paper's settings.

    python benchmarks/bench_gpu.py --device cuda [--budget-s 420] [--out docs/performance.md]
    python benchmarks/bench_gpu.py --device cpu --quick --out /tmp/perf.md      # smoke test
    python benchmarks/bench_gpu.py --estimate-memory [--resolutions 64,128]     # CPU estimate

Run through ``benchmarks/gpu.sh`` on a GPU machine (by hand; about 8 minutes). For every
architecture at 128², batch 128, the ``nih`` widths, it trains ``--steps`` steps (after one
warm-up epoch of as many steps) on random images with the real loop (``train_gan``) in these
variants, cheapest first, stopping new runs when ``--budget-s`` is spent:

- ``fp32``; ``amp`` (``precision: auto``: bf16 on compute capability >= 8.0, else fp16);
  ``amp+cl`` (+ channels_last); ``fp16+cl`` (fp16 + GradScaler, to count skipped steps);
  ``amp+cl+compile`` (``compile: true``, or ``generator`` where D needs double backward).
- checks: proposed with and without spectral norm; the wgan_gp critic (GroupNorm) with and
  without channels_last, against the same critic without normalisation.

It records images/s, peak GPU memory (``torch.cuda.max_memory_allocated``, whole batch in one
pass), steps the GradScaler skipped (from the checkpointed scale: each skip halves it, and no
growth happens in < 2,000 steps), DataLoader throughput alone (workers 0 and 4, with the
training augmentation) and the stall it implies, and the projected time of the paper's budget
(100 epochs over 60,361 images) from the fastest variant. The Markdown table is printed and,
with ``--out``, appended to that file.

``--estimate-memory`` needs no GPU (seconds, on the meta device): it counts the bytes autograd
saves for backward during one D step (with its penalty: R1 at step 0) and one G step at batch 4
— 2 bytes per element as under bf16 autocast, 4 inside the objectives' fp32 penalty passes —,
scales them linearly to the batch, and adds fp32 weights, gradients, Adam moments and the EMA
copy. Not counted: the CUDA context, cuDNN workspaces, the allocator's fragmentation and the
transient gradients during backward; treat it as a lower bound until a GPU run replaces it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from torch.utils.data import DataLoader

from cxr_synth.data.torch_data import ChestXrayDataset, build_augmentation
from cxr_synth.models.base import needs_double_backward
from cxr_synth.models.registry import ARCHITECTURES, build_gan
from cxr_synth.training import train_gan
from cxr_synth.training.checkpoint import latest_checkpoint, load_checkpoint

PAPER_IMAGES, PAPER_EPOCHS = 60_361, 100
PAPER_HOURS = {"dcgan": 4.2, "stylegan": 12.3}
GIB = 2**30
# The widths of conf/nih/parameters.yml (the paper's networks).
NIH_OPTIONS: dict[str, dict] = {
    "dcgan": {"g_width": 64, "d_width": 64},
    "lsgan": {"g_width": 64, "d_width": 64},
    "wgan_gp": {"g_width": 64, "d_width": 64},
    "stylegan": {"g_width": 128, "d_width": 128, "max_width": 256, "w_dim": 256},
    "proposed": {"g_width": 64, "d_width": 64},
    "proposed_tuned": {"g_width": 64, "d_width": 64},
    "ddpm": {"widths": [64, 128, 256, 256], "layers_per_block": 2, "attention_resolutions": [16],
             "patch_size": 1},  # conf/nih/parameters.yml (attention: 1/8 of the side)
}
QUICK_OPTIONS: dict[str, dict] = {
    "stylegan": {"g_width": 4, "d_width": 4, "max_width": 8, "w_dim": 8, "mapping_layers": 2},
}
VARIANTS = ("fp32", "amp", "amp+cl", "fp16+cl", "amp+cl+compile")


def model_options(arch: str, quick: bool) -> dict:
    if quick:
        return QUICK_OPTIONS.get(arch, {"g_width": 4, "d_width": 4})
    return NIH_OPTIONS[arch]


def loop_config(variant: str, args: argparse.Namespace, checkpoint_dir: str, gan) -> dict:
    parts = variant.split("+")
    compile_setting: bool | str = False
    if "compile" in parts:
        compile_setting = "generator" if needs_double_backward(gan.objective) else True
    return {
        "epochs": 2,  # epoch 1 warms up (cudnn.benchmark, compilation); epoch 2 is measured
        "batch_size": args.batch,
        "device": args.device,
        "precision": {"fp32": "fp32", "amp": "auto", "fp16": "fp16"}[parts[0]],
        "channels_last": "cl" in parts,
        "compile": compile_setting,
        "max_steps_per_epoch": args.steps,
        "eval_every": 10_000,
        "log_every": 10_000,
        "grid_samples": 4,
        "seed": 0,
        "checkpoint_dir": checkpoint_dir,
        "checkpoint_every": 10_000,  # only the last epoch: read back for the GradScaler
    }


def skipped_steps(checkpoint_dir: str) -> int | None:
    """Steps the fp16 GradScalers skipped (G + D), from their final scale; None without fp16."""
    ckpt = load_checkpoint(latest_checkpoint(checkpoint_dir))
    total = 0
    for key in ("g_scaler", "d_scaler"):
        state = ckpt[key]
        if not state:
            return None
        total += round(math.log2(65536.0 / state["scale"]))  # init 2**16, backoff 0.5
    return total


@contextlib.contextmanager
def peak_memory(device: str) -> Iterator[Callable[[], float | None]]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    yield lambda: torch.cuda.max_memory_allocated() / GIB if device.startswith("cuda") else None


def run_variant(arch: str, variant: str, args: argparse.Namespace, images: np.ndarray, **extra):
    """One measured run: images/s of epoch 2, peak GiB, skipped steps, resolved precision."""
    gan = build_gan(
        arch, resolution=args.resolution, seed=0, **{**model_options(arch, args.quick), **extra}
    )
    with tempfile.TemporaryDirectory() as tmp, peak_memory(args.device) as peak:
        try:
            result = train_gan(gan, ChestXrayDataset(images), loop_config(variant, args, tmp, gan))
        except torch.cuda.OutOfMemoryError:
            return {"images_per_s": None, "peak_gib": None, "skipped": None, "note": "OOM"}
        return {
            "images_per_s": float(result.history[-1]["images_per_s"]),
            "peak_gib": peak(),
            "skipped": skipped_steps(tmp),
            "precision": result.precision,
            "note": "",
        }


def loader_images_per_s(images: np.ndarray, batch: int, workers: int, seconds: float) -> float:
    """The DataLoader alone, with the training augmentation (rotation ±3°), as the loop uses it."""
    dataset = ChestXrayDataset(images, augmentation=build_augmentation(3, False))
    loader = DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=True,
        pin_memory=torch.cuda.is_available(),
    )
    seen, began = 0, None
    while began is None or time.perf_counter() - began < seconds:
        for x in loader:
            if began is None:  # the clock starts after the first batch (workers' start-up)
                began = time.perf_counter()
                continue
            seen += len(x)
            if time.perf_counter() - began >= seconds:
                break
    return seen / (time.perf_counter() - began)


def fmt(value: float | None, spec: str = ".0f") -> str:
    return "—" if value is None else format(value, spec)


def benchmark(args: argparse.Namespace) -> str:
    """Run every measurement within the budget; returns the Markdown section."""
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.batch * args.steps, args.resolution, args.resolution))
    images = images.astype(np.uint8)
    archs, variants = args.archs.split(","), args.variants.split(",")
    plan = [(arch, v, {}) for v in variants if "compile" not in v for arch in archs]
    if "proposed" in archs and "amp+cl" in variants:
        plan.append(("proposed", "amp+cl", {"spectral_norm": False}))
    if "wgan_gp" in archs and {"amp", "amp+cl"} <= set(variants):
        plan += [("wgan_gp", "amp", {"d_norm": "none"}), ("wgan_gp", "amp+cl", {"d_norm": "none"})]
    plan += [(arch, v, {}) for v in variants if "compile" in v for arch in archs]  # slow: last
    results: dict[tuple, dict] = {}
    for arch, variant, extra in plan:
        if time.perf_counter() - started > args.budget_s:
            results[arch, variant, tuple(extra.items())] = {"note": "skipped (time budget)"}
            continue
        logging.getLogger("bench").info("%s %s %s", arch, variant, extra or "")
        results[arch, variant, tuple(extra.items())] = run_variant(
            arch, variant, args, images, **extra
        )
    loader = {w: loader_images_per_s(images, args.batch, w, args.loader_s) for w in (0, 4)}
    return report(args, archs, results, loader, time.perf_counter() - started)


def report(args, archs, results, loader, elapsed) -> str:
    device = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor()
    )
    lines = [
        "",
        f"### {datetime.date.today()}: {device or args.device}, torch {torch.__version__}"
        + (" (quick smoke run: tiny sizes, not a measurement)" if args.quick else ""),
        "",
        f"{args.resolution}², batch {args.batch} in one pass, {args.steps} measured steps after "
        f"as many warm-up steps, random images; `benchmarks/bench_gpu.py`, {elapsed:.0f} s.",
        "",
        "| architecture | variant | precision | images/s | × fp32 | peak memory (GiB) "
        "| GradScaler skips | 100 epochs × 60,361 (h) | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    best: dict[str, tuple[float, str]] = {}
    for (arch, variant, extra), r in results.items():
        label = variant + "".join(f", {k}={v}" for k, v in extra)
        rate = r.get("images_per_s")
        base = results.get((arch, "fp32", ()), {}).get("images_per_s")
        hours = PAPER_EPOCHS * PAPER_IMAGES / rate / 3600 if rate else None
        if rate and not extra and rate > best.get(arch, (0.0, ""))[0]:
            best[arch] = (rate, label)
        lines.append(
            f"| {arch} | {label} | {r.get('precision', '—')} | {fmt(rate)} "
            f"| {fmt(rate / base if rate and base else None, '.2f')} "
            f"| {fmt(r.get('peak_gib'), '.1f')} | {fmt(r.get('skipped'), 'd')} "
            f"| {fmt(hours, '.1f')} | {r.get('note', '')} |"
        )
    lines += ["", "Fastest variant per architecture, projected over the paper's 100 epochs:", ""]
    for arch in archs:
        if arch in best:
            rate, label = best[arch]
            hours = PAPER_EPOCHS * PAPER_IMAGES / rate / 3600
            paper = f" (paper: {PAPER_HOURS[arch]} h)" if arch in PAPER_HOURS else ""
            stall = max(0.0, 1 / loader[4] - 1 / rate) * PAPER_IMAGES
            lines.append(
                f"- {arch}: {hours:.1f} h with {label}{paper}; DataLoader stall with 4 workers "
                f"≈ {stall:.0f} s per epoch"
            )
    lines += [
        "",
        f"DataLoader alone (augmentation on): {loader[0]:.0f} images/s with 0 workers, "
        f"{loader[4]:.0f} with 4. Stall = max(0, 1/loader − 1/training) per image: the loader "
        "runs ahead of the GPU, so only a loader slower than training stalls it.",
    ]

    def ratio(a: tuple, b: tuple) -> str:
        x, y = (results.get(k, {}).get("images_per_s") for k in (a, b))
        return f"{x / y:.2f}" if x and y else "—"

    if "proposed" in archs:
        lines.append(
            "Spectral norm (proposed, amp+cl): images/s with / without = "
            + ratio(("proposed", "amp+cl", ()), ("proposed", "amp+cl", (("spectral_norm", False),)))
        )
    if "wgan_gp" in archs:
        lines.append(
            "GroupNorm + channels_last (wgan_gp critic): channels_last / not = "
            + ratio(("wgan_gp", "amp+cl", ()), ("wgan_gp", "amp", ()))
            + " with GroupNorm, "
            + ratio(
                ("wgan_gp", "amp+cl", (("d_norm", "none"),)),
                ("wgan_gp", "amp", (("d_norm", "none"),)),
            )
            + " without normalisation"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ memory estimate
class _SavedBytes:
    """Bytes of the distinct storages autograd saves for backward (parameters excluded), with
    float tensors counted at 2 bytes per element (bf16 autocast) except inside regions that
    switch autocast off (the objectives' fp32 penalty passes), which count at 4."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude, self.storages, self.fp32_depth = exclude, {}, 0

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        key = storage._cdata  # identifies the storage on the meta device too
        if key not in self.exclude:
            amp = t.is_floating_point() and self.fp32_depth == 0
            size = storage.nbytes() // 2 if amp else storage.nbytes()
            self.storages[key] = max(size, self.storages.get(key, 0))
        return t

    @contextlib.contextmanager
    def autocast(self, *args, enabled: bool = True, **kwargs) -> Iterator[None]:
        self.fp32_depth += not enabled
        try:
            yield
        finally:
            self.fp32_depth -= not enabled

    def measure(self, run: Callable[[], object]) -> int:
        self.storages = {}
        with torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t):
            run()
        return sum(self.storages.values())


def estimate_memory(arch: str, resolution: int, batch: int, probe: int = 4) -> dict[str, float]:
    """GiB for weights/optimiser/EMA and per-step activations at ``batch`` (see module doc).

    The networks run on the meta device (shapes only, no arithmetic: seconds for any size)."""
    options = dict(NIH_OPTIONS[arch])
    if arch == "ddpm":  # attention at 1/8 of the side, as conf/nih's 16 at 128²
        options["attention_resolutions"] = [resolution // 8]
    gan = build_gan(arch, resolution=resolution, seed=0, **options)
    g, objective = gan.generator.to("meta"), gan.objective
    d = gan.discriminator.to("meta") if gan.discriminator is not None else None  # ddpm: none
    n_g = sum(p.numel() for p in g.parameters())
    n_d = sum(p.numel() for p in d.parameters()) if d is not None else 0
    static = 4 * (n_g * 5 + n_d * 4)  # fp32 weights, grads, Adam m and v; EMA copy of G
    networks = [*g.parameters(), *(d.parameters() if d is not None else [])]
    saved = _SavedBytes({p.untyped_storage()._cdata for p in networks})
    real = torch.empty(probe, 1, resolution, resolution, device="meta").uniform_(-1, 1)
    z = torch.empty(probe, gan.latent_dim, device="meta").normal_()
    with mock.patch("torch.autocast", saved.autocast):  # no autocast on meta; track fp32 regions
        if d is None:  # one network, one loss: the denoising step on real images
            d_bytes = 0
            g_bytes = saved.measure(lambda: objective.generator_loss(g, real))
        else:
            with torch.no_grad():
                fake = g(z)
            d_bytes = saved.measure(lambda: objective.discriminator_loss(d, real, fake, 0))  # +R1
            d.requires_grad_(False)
            g_bytes = saved.measure(lambda: objective.generator_loss(d, g(z)))
    scale = batch / probe
    return {
        "g_params_m": n_g / 1e6,
        "d_params_m": n_d / 1e6,
        "static_gib": static / GIB,
        "d_step_gib": d_bytes * scale / GIB,
        "g_step_gib": g_bytes * scale / GIB,
        "peak_gib": (static + max(d_bytes, g_bytes) * scale) / GIB,
        "per_image_gib": max(d_bytes, g_bytes) / probe / GIB,
    }


def largest_micro_batch(e: dict[str, float], batch: int, card_gib: float) -> str:
    """The largest power-of-two micro-batch dividing ``batch`` whose estimate fits 75 % of a card
    (the rest for what the estimate leaves out: CUDA context, workspaces, fragmentation)."""
    m = batch
    while m >= 1:
        if e["static_gib"] + e["per_image_gib"] * m <= 0.75 * card_gib:
            return "whole batch" if m == batch else str(m)
        m //= 2
    return "does not fit"


def memory_report(archs: list[str], resolutions: list[int], batch: int) -> str:
    lines = [
        f"| architecture | resolution | G / D parameters (M) | weights+Adam+EMA (GiB) "
        f"| D step (GiB) | G step (GiB) | peak at batch {batch} (GiB) "
        "| micro_batch_size for 24 GB | for 40 GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arch in archs:
        for r in resolutions:
            e = estimate_memory(arch, r, batch)
            lines.append(
                f"| {arch} | {r}² | {e['g_params_m']:.1f} / {e['d_params_m']:.1f} "
                f"| {e['static_gib']:.2f} | {e['d_step_gib']:.1f} | {e['g_step_gib']:.1f} "
                f"| {e['peak_gib']:.1f} | {largest_micro_batch(e, batch, 24)} "
                f"| {largest_micro_batch(e, batch, 40)} |"
            )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, any device")
    parser.add_argument("--resolution", type=int, default=None, help="default 128 (quick: 16)")
    parser.add_argument("--batch", type=int, default=None, help="default 128 (quick: 8)")
    parser.add_argument("--steps", type=int, default=None, help="default 10 (quick: 1)")
    parser.add_argument("--archs", default=",".join(ARCHITECTURES))
    parser.add_argument(
        "--variants", default=None, help=f"default {','.join(VARIANTS)} (quick: without compile)"
    )
    parser.add_argument("--budget-s", type=float, default=420.0, help="no new run after this")
    parser.add_argument("--loader-s", type=float, default=None, help="default 5 (quick: 0.2)")
    parser.add_argument("--out", type=Path, default=None, help="append the table to this file")
    parser.add_argument("--estimate-memory", action="store_true", help="CPU estimate, see doc")
    parser.add_argument("--resolutions", default="64,128", help="for --estimate-memory")
    args = parser.parse_args(argv)
    quick = args.quick
    args.resolution = args.resolution or (16 if quick else 128)
    args.batch = args.batch or (8 if quick else 128)
    args.steps = args.steps or (1 if quick else 10)
    if args.variants is None:  # compiling on a CPU takes minutes per network
        args.variants = ",".join(v for v in VARIANTS if not (quick and "compile" in v))
    args.loader_s = args.loader_s if args.loader_s is not None else (0.2 if quick else 5.0)
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bench").setLevel(logging.INFO)
    if args.estimate_memory:
        archs = args.archs.split(",")
        text = memory_report(archs, [int(r) for r in args.resolutions.split(",")], args.batch)
    else:
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            sys.exit("no CUDA GPU here: use --device cpu --quick for a smoke run")
        text = benchmark(args)
    print(text)
    if args.out is not None:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
