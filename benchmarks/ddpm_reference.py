"""The ddpm reference check (issue #26 §1): the project's ddpm against diffusers' documented recipe.

    python benchmarks/ddpm_reference.py [--resolution 32] [--patch-size 2] [--widths 32,64,64]
        [--images 512] [--batch 16] [--epochs 8] [--checkpoint-every 2] [--samples 64]
        [--ddpm-steps 1000] [--reference recipe|matched] [--seed 0]

Both models train on the same real NIH images (``../shared/data/nih``; the project's phantoms
where it is absent) in the same order, from the same initial U-Net, for the same steps:

- project: ``build_gan("ddpm")`` + ``train_gan`` (its objective, loop and EMA), Adam at the
  recipe's learning rate and betas;
- reference: diffusers' ``examples/unconditional_image_generation/train_unconditional.py`` in
  plain torch: ``DDPMScheduler(1000, "linear")``, images in [-1, 1], MSE on the noise, AdamW
  (lr 1e-4, betas (0.95, 0.999), weight decay 1e-6), gradient norm clipped to 1, cosine learning
  rate with warm-up, ``EMAModel`` (max decay 0.9999, warm-up power 3/4). ``--reference matched``
  makes it the project's optimiser instead (Adam, constant lr, no clipping, EMA warm-up
  (1 + n)/(10 + n)): then every step's loss must equal the project's.

The U-Net sees ``--patch-size`` x p patches in both (pixel unshuffle, as the project's option).
Printed: the loss every ``--checkpoint-every`` epochs (window means); at the last checkpoint
both models' EMA samples by ancestral DDPM with ``--ddpm-steps`` steps (the sampler of diffusers'
``DDPMPipeline``, the same scheduler for both): pixel mean/std and FD_rand (the project's offline
random-CNN Fréchet distance) to the training images, next to held-out real images' FD_rand at
the same N; then the project's checkpoints sampled with raw and EMA weights by DDIM (10, 50
steps) and DPM-Solver++ (10, 20 steps), and at the last one by DDPM (``--ddpm-everywhere``: the
EMA weights at every checkpoint), with sampling images/s.
Defaults: 25 minutes on 2 busy cores (load ~6), two thirds of it training; --epochs, --samples
and --ddpm-steps scale it.
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cxr_synth.data.imaging import ResizeSpec, prepare_image
from cxr_synth.data.torch_data import ChestXrayDataset
from cxr_synth.metrics.features import build_backbone
from cxr_synth.metrics.fid import feature_stats, fid_from_samples
from cxr_synth.models.registry import build_gan
from cxr_synth.training import train_gan
from cxr_synth.training.checkpoint import list_checkpoints, load_checkpoint

NIH = Path(__file__).resolve().parents[2] / "shared" / "data" / "nih" / "images_001" / "images"


def load_images(resolution: int, n: int) -> tuple[np.ndarray, str]:
    """``n`` uint8 (N, R, R) chest X-rays: the NIH sample, else the project's phantoms."""
    from PIL import Image

    spec = ResizeSpec(resolution=resolution)
    files = sorted(NIH.glob("*.png"))[:n]
    if len(files) == n:
        return np.stack([prepare_image(Image.open(f), spec) for f in files]), f"NIH ({NIH})"
    from cxr_synth.phantoms import chest_phantom

    phantoms = [chest_phantom(0, i, size=4 * resolution).image for i in range(n)]
    return np.stack([prepare_image(Image.fromarray(p), spec) for p in phantoms]), "phantoms"


class RecordingDataset(ChestXrayDataset):
    """The project's dataset, remembering which rows the loop read, in order."""

    def __init__(self, images: np.ndarray) -> None:
        super().__init__(images)
        self.read: list[int] = []

    def __getitem__(self, index: int) -> torch.Tensor:
        self.read.append(index)
        return super().__getitem__(index)

    def batches(self, size: int) -> list[torch.Tensor]:
        """The batches of ``size`` read so far, in the order read."""
        rows = [self.read[k : k + size] for k in range(0, len(self.read), size)]
        return [torch.stack([ChestXrayDataset.__getitem__(self, i) for i in r]) for r in rows]


class LossLog:
    """A tracker keeping the loop's ``train/g_loss`` window means."""

    def __init__(self) -> None:
        self.losses: dict[int, float] = {}

    def log_params(self, params: dict) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if "train/g_loss" in metrics:
            self.losses[step] = metrics["train/g_loss"]

    def log_image(self, image: np.ndarray, artifact_path: str) -> None:
        pass


def train_project(options: dict, data: RecordingDataset, args: argparse.Namespace, out: Path):
    """The project's ddpm through ``train_gan``; returns the model, its losses, checkpoints."""
    gan = build_gan("ddpm", resolution=args.resolution, seed=args.seed, **options)
    initial = copy.deepcopy(gan.generator.unet.state_dict())
    log = LossLog()
    config = {
        "epochs": args.epochs, "batch_size": args.batch, "device": "cpu", "precision": "fp32",
        "seed": args.seed, "checkpoint_dir": str(out), "checkpoint_every": args.checkpoint_every,
        "keep_last": args.epochs, "eval_every": args.epochs, "log_every": args.log_every,
        "grid_samples": 1,
    }  # fmt: skip
    train_gan(gan, data, config, tracker=log)
    return gan, initial, log.losses, list_checkpoints(out)


def train_reference(unet, batches, *, matched: bool, lr: float, warmup: int, p: int, seed: int):
    """diffusers' unconditional recipe on ``batches`` (``matched``: with the project's optimiser
    and EMA warm-up, see the module doc): the loss per step and the EMA U-Net."""
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    noise_scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    if matched:
        optimizer = torch.optim.Adam(unet.parameters(), lr=lr, betas=(0.95, 0.999))
    else:
        optimizer = torch.optim.AdamW(
            unet.parameters(), lr=lr, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8
        )
    lr_scheduler = get_scheduler(
        "constant" if matched else "cosine", optimizer,
        num_warmup_steps=0 if matched else warmup, num_training_steps=len(batches),
    )  # fmt: skip
    ema = EMAModel(unet.parameters(), decay=0.9999, use_ema_warmup=not matched, power=3 / 4)
    torch.manual_seed(seed)  # the loop's seed_everything
    losses = []
    unet.train()
    for clean in batches:
        noise = torch.randn(clean.shape)
        timesteps = torch.randint(0, 1000, (clean.shape[0],)).long()
        noisy = noise_scheduler.add_noise(clean, noise, timesteps)
        noise_pred = F.pixel_shuffle(unet(F.pixel_unshuffle(noisy, p), timesteps).sample, p)
        loss = F.mse_loss(noise_pred, noise)
        loss.backward()
        if not matched:
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        lr_scheduler.step()
        ema.step(unet.parameters())
        optimizer.zero_grad()
        losses.append(loss.item())
    averaged = copy.deepcopy(unet)
    ema.copy_to(averaged.parameters())
    return losses, averaged


@torch.no_grad()
def pipeline_samples(unet, z: torch.Tensor, steps: int, p: int, seed: int) -> torch.Tensor:
    """``DDPMPipeline``'s loop (ancestral DDPM, the training scheduler) from x_T = z."""
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    unet.eval()
    image = z
    for t in scheduler.timesteps:
        output = F.pixel_shuffle(unet(F.pixel_unshuffle(image, p), t).sample, p)
        image = scheduler.step(output, t, image, generator=generator).prev_sample
    return image.clamp(-1.0, 1.0)


@torch.no_grad()
def project_samples(state: dict, options: dict, args, z, sampler: str, steps: int):
    """The project's generator with ``state`` loaded, sampled by its own ``sampler``."""
    gan = build_gan("ddpm", resolution=args.resolution, **options,
                    sampler=sampler, sampling_steps=steps)  # fmt: skip
    gan.generator.load_state_dict(state)
    started = time.perf_counter()
    images = gan.generator.eval()(z.flatten(1))
    return images, len(z) / (time.perf_counter() - started)


def stats(images: torch.Tensor, real, backbone) -> str:
    fd = fid_from_samples(real, backbone, images)
    return f"mean {images.mean():+.3f} std {images.std():.3f} FD_rand {fd:6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=2)
    parser.add_argument("--widths", default="32,64,64")
    parser.add_argument("--images", type=int, default=512, help="training images")
    parser.add_argument("--heldout", type=int, default=64, help="held-out real images")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--checkpoint-every", type=int, default=2, help="epochs")
    parser.add_argument("--log-every", type=int, default=16, help="steps per loss window")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="reference lr warm-up steps "
        "(default: a tenth of the run; the example's 500 is for long runs)",
    )
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--ddpm-steps", type=int, default=1000)
    parser.add_argument("--ddpm-everywhere", action="store_true",
                        help="DDPM of the EMA weights at every checkpoint (the expensive sampler)")  # fmt: skip
    parser.add_argument("--reference", choices=("recipe", "matched"), default="recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    p, started = args.patch_size, time.perf_counter()
    images, source = load_images(args.resolution, args.images + args.heldout)
    train, heldout = images[: args.images], images[args.images :]
    options = {"widths": [int(w) for w in args.widths.split(",")], "layers_per_block": 1,
               "attention_resolutions": [], "patch_size": p, "g_lr": args.lr,
               "g_betas": (0.95, 0.999)}  # fmt: skip
    data = RecordingDataset(train)
    with tempfile.TemporaryDirectory() as folder:
        gan, initial, project_losses, checkpoints = train_project(options, data, args, Path(folder))
        states = [load_checkpoint(c) for c in checkpoints]
    steps = [s["global_step"] for s in states]
    batches = data.batches(args.batch)  # what the loop read, in its order
    args.warmup = args.warmup if args.warmup is not None else len(batches) // 10
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_config(gan.generator.unet.config)
    unet.load_state_dict(initial)
    reference_losses, averaged = train_reference(
        unet, batches, matched=args.reference == "matched", lr=args.lr, warmup=args.warmup, p=p,
        seed=args.seed,
    )  # fmt: skip
    trained = time.perf_counter() - started

    print(f"# ddpm reference check: {source}, {args.images} images at {args.resolution}², "
          f"patch {p}, widths {options['widths']}, batch {args.batch}, {len(batches)} steps, "
          f"seed {args.seed}, reference = {args.reference}")  # fmt: skip
    print("\n## loss (mean over the window ending at the step)")
    print("| step | project | reference |\n|---|---|---|")
    for step, value in sorted(project_losses.items()):
        window = reference_losses[step - args.log_every : step]
        print(f"| {step} | {value:.4f} | {sum(window) / len(window):.4f} |")
    if args.reference == "matched":
        logged = [project_losses[step] for step in sorted(project_losses)]
        windows = [sum(reference_losses[k : k + args.log_every]) / args.log_every
                   for k in range(0, len(reference_losses), args.log_every)]  # fmt: skip
        gap = max(abs(a - b) for a, b in zip(logged, windows, strict=True))
        print(f"max |project - reference| over the windows: {gap:.2e}")

    backbone = build_backbone("random")
    real = feature_stats(backbone, train)
    z = torch.randn(args.samples, 1, args.resolution, args.resolution,
                    generator=torch.Generator().manual_seed(args.seed + 1))  # fmt: skip
    print(f"\n## samples (N = {args.samples}), FD_rand to the {args.images} training images")
    print(f"held-out real images (N = {len(heldout)}): "
          f"{stats(torch.from_numpy(heldout).float() / 127.5 - 1, real, backbone)}")  # fmt: skip
    images = pipeline_samples(averaged, z, args.ddpm_steps, p, args.seed)  # the example's EMA
    print(f"reference EMA step {steps[-1]}, DDPMPipeline {args.ddpm_steps}: "
          f"{stats(images, real, backbone)}")  # fmt: skip
    samplers = [("ddpm", args.ddpm_steps), ("ddim", 10), ("ddim", 50),
                ("dpm_solver++", 10), ("dpm_solver++", 20)]  # fmt: skip
    print("\n## the project's checkpoints: raw and EMA weights, by sampler (images/s)")
    for state in states:
        for name, weights in (("raw", state["generator"]), ("EMA", _ema_weights(state["ema"]))):
            for sampler, n in samplers:
                if sampler == "ddpm" and state is not states[-1]:
                    if name == "raw" or not args.ddpm_everywhere:
                        continue  # the expensive sampler: at the last checkpoint
                images, rate = project_samples(weights, options, args, z, sampler, n)
                print(f"project {name:3s} step {state['global_step']:4d} {sampler:>12s} {n:4d}: "
                      f"{stats(images, real, backbone)}  ({rate:.1f} img/s)")  # fmt: skip
    print(f"\n{time.perf_counter() - started:.0f} s in all ({trained:.0f} s training)")


def _ema_weights(state: dict) -> dict:
    return {k.removeprefix("module."): v for k, v in state.items() if k.startswith("module.")}


if __name__ == "__main__":
    main()
