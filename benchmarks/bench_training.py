"""Training throughput per architecture, and precision/layout variants against an fp32 baseline.

    python benchmarks/bench_training.py [--resolution 64] [--width 16] [--batch 32] [--steps 6]
        [--archs dcgan,lsgan,...] [--variants fp32,fp32+cl,bf16+cl] [--threads N]

For each architecture it trains on random images for a fixed number of steps (after one warm-up
epoch) in every variant and prints images/s and the ratio to the first variant, measured in the
same run. "cl" = channels_last. Widths scale every network (StyleGAN's mapping too).
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from cxr_synth.data.torch_data import ChestXrayDataset
from cxr_synth.models.registry import ARCHITECTURES, build_gan
from cxr_synth.training import train_gan


def options(arch: str, width: int) -> dict:
    if arch == "ddpm":  # the CPU study's U-Net at width 16 (studies/nih_sample_ddpm_cpu.yml)
        return {"widths": [2 * width, 4 * width, 4 * width], "layers_per_block": 1,
                "attention_resolutions": [], "patch_size": 4}  # fmt: skip
    if arch == "stylegan":
        return {
            "g_width": width,
            "d_width": width,
            "max_width": 4 * width,
            "w_dim": 4 * width,
            "mapping_layers": 2,
        }
    return {"g_width": width, "d_width": width}


def images_per_s(arch: str, variant: str, args: argparse.Namespace, images: np.ndarray) -> float:
    precision, _, layout = variant.partition("+")
    config = {
        "epochs": 2,
        "batch_size": args.batch,
        "device": "cpu",
        "precision": precision,
        "channels_last": layout == "cl",
        "max_steps_per_epoch": args.steps,
        "eval_every": 1000,
        "seed": 0,
    }
    gan = build_gan(arch, resolution=args.resolution, seed=0, **options(arch, args.width))
    result = train_gan(gan, ChestXrayDataset(images), config)
    return float(result.history[-1]["images_per_s"])  # epoch 2: after the warm-up epoch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--archs", default=",".join(ARCHITECTURES))
    parser.add_argument("--variants", default="fp32,fp32+cl,bf16+cl")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    images = np.random.default_rng(0).integers(
        0, 256, (args.batch * args.steps, args.resolution, args.resolution), dtype=np.uint8
    )
    variants = args.variants.split(",")
    print(
        f"{args.resolution}x{args.resolution}, width {args.width}, batch {args.batch}, {args.threads} threads"
    )
    for arch in args.archs.split(","):
        rates = {variant: images_per_s(arch, variant, args, images) for variant in variants}
        baseline = rates[variants[0]]
        cells = "  ".join(f"{v}: {r:8.1f} img/s ({r / baseline:.2f}x)" for v, r in rates.items())
        print(f"{arch:9s} {cells}")


if __name__ == "__main__":
    main()
