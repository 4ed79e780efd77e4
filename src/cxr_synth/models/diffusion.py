"""ddpm: denoising diffusion (Ho et al. 2020) in the zoo, sampled with DDIM (Song et al. 2021),
ancestral DDPM (Ho et al. 2020, Alg. 2) or DPM-Solver++ (Lu et al. 2022).

The network and the noise schedules come from Hugging Face ``diffusers`` (``UNet2DModel``,
``DDPMScheduler`` for the forward process in training; ``DDIMScheduler``, ``DDPMScheduler`` or
``DPMSolverMultistepScheduler`` for sampling, the ``sampler`` option). It fits the zoo's `GAN`
record without a discriminator: the "generator" is `DiffusionGenerator`, whose ``forward(z)``
runs the sampler from the initial noise x_T = z reshaped to an image. With DDIM (eta = 0) and
DPM-Solver++ x_T is a latent code (Song et al. 2021), so ``z ~ N(0, I)`` of ``latent_dim = C·R²``
values plays the GAN latent's part; the ancestral sampler draws each image's extra noise from a
generator seeded by its own z, so there too seeded latents give the same images wherever the
GANs' do, whatever the batch.

``diffusers`` is imported when a model is built (it takes seconds, and most runs build none).
"""

from __future__ import annotations

import hashlib
import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .base import GAN
from .layers import adam_settings, ema_setting
from .options import DDPMOptions

BETA_SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}  # option -> diffusers name


def _schedule(options: DDPMOptions) -> dict:
    """The noise schedule, shared by the training (DDPM) and sampling (DDIM) schedulers."""
    return {
        "num_train_timesteps": options.train_timesteps,
        "beta_schedule": BETA_SCHEDULES[options.beta_schedule],
        "prediction_type": options.prediction_type,
    }


def _sampler(options: DDPMOptions):
    """The reverse-process scheduler ``options.sampler`` names, set to ``sampling_steps`` steps.

    Every one starts at t = T - 1 ("trailing" spacing: x_T is pure noise there, Lin et al. 2024,
    Table 2). DDIM and DDPM clip the predicted x_0 to [-1, 1] (Ho et al. 2020); DPM-Solver++
    thresholds it dynamically (Saharia et al. 2022, as Lu et al. 2022, Sec. 5, for pixel
    space): clipped to [-s, s] and divided by s, s = max(1, the 99.5th percentile of |x_0|), since
    static clipping saturated its samples (docs/results/ddpm.md).
    """
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    if options.sampler == "ddpm":  # ancestral, variance beta~_t ("fixed_small"), as DDPMPipeline
        scheduler = DDPMScheduler(**_schedule(options), timestep_spacing="trailing")
    elif options.sampler == "dpm_solver++":  # 2nd-order multistep, data prediction
        scheduler = DPMSolverMultistepScheduler(
            **_schedule(options),
            algorithm_type="dpmsolver++",
            solver_order=2,
            thresholding=True,
            dynamic_thresholding_ratio=0.995,
            sample_max_value=math.inf,  # s not capped
            timestep_spacing="trailing",
        )
    else:  # deterministic DDIM, eta = 0
        scheduler = DDIMScheduler(**_schedule(options), timestep_spacing="trailing")
    scheduler.set_timesteps(options.sampling_steps)
    return scheduler


def _noise_generators(z: torch.Tensor) -> list[torch.Generator]:
    """One CPU generator per image, seeded by the bytes of its initial noise: the ancestral
    sampler's extra noise then depends on that image's z alone (not the batch, not the device)."""
    rows = z.detach().float().cpu().numpy()
    seeds = [
        int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8).digest()) >> 1 for r in rows
    ]
    return [torch.Generator().manual_seed(seed) for seed in seeds]


def _unet(options: DDPMOptions, channels: int, side: int) -> nn.Module:
    """A diffusers ``UNet2DModel`` for (channels, side, side) inputs, as ``options`` describe."""
    from diffusers import UNet2DModel

    widths = list(options.widths)
    sides = [side // 2**level for level in range(len(widths))]
    if side % 2 ** (len(widths) - 1):
        raise ValueError(
            f"ddpm: {len(widths)} U-Net levels halve the side {len(widths) - 1} times, which "
            f"needs a side divisible by {2 ** (len(widths) - 1)} (got {side}); use fewer widths"
        )
    unknown = sorted(set(options.attention_resolutions) - set(sides))
    if unknown:
        raise ValueError(
            f"ddpm: attention_resolutions {unknown} are no level's side; the levels have sides "
            f"{sides} (R / patch_size, halving per level)"
        )
    attention = [s in options.attention_resolutions for s in sides]
    return UNet2DModel(
        sample_size=side,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(widths),
        layers_per_block=options.layers_per_block,
        down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attention),
        up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)),
        norm_num_groups=math.gcd(32, *widths),
        attention_head_dim=None,  # one head per attention layer, as in Ho et al. 2020
        dropout=options.dropout,
    )


class DiffusionGenerator(nn.Module):
    """The denoising U-Net and its sampler, in the place of a GAN's generator.

    ``forward(z)``: images (B, C, R, R) in [-1, 1] by ``sampling_steps`` steps of ``sampler``
    from x_T = ``z.reshape(B, C, R, R)``; ``forward(x_t, timesteps)``: the U-Net's prediction (noise or
    v) for noisy images at the given timesteps, which is what training calls (through the
    module's forward, so that DDP and ``torch.compile`` wrappers see it). With ``patch_size`` p
    the U-Net sees (C p², R/p, R/p) tensors (pixel unshuffle, as in Hoogeboom et al. 2023).
    """

    def __init__(self, options: DDPMOptions, *, channels: int, resolution: int) -> None:
        super().__init__()
        p = options.patch_size
        if resolution % p:
            raise ValueError(f"ddpm: patch_size {p} does not divide the resolution {resolution}")
        self.shape = (channels, resolution, resolution)
        self.unpatch = nn.PixelShuffle(p)
        self.patch = nn.PixelUnshuffle(p)
        self.unet = _unet(options, channels * p * p, resolution // p)
        self.sampler, self.sampler_name = _sampler(options), options.sampler
        self.sampling_steps = options.sampling_steps

    def denoise(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.unpatch(self.unet(self.patch(x), timesteps).sample)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor | None = None) -> torch.Tensor:
        if timesteps is not None:
            return self.denoise(x, timesteps)
        if x.dim() != 2 or x.shape[1] != math.prod(self.shape):
            raise ValueError(
                f"ddpm samples from noise z of shape (B, {math.prod(self.shape)}) = (B, C·R·R), "
                f"got {tuple(x.shape)}"
            )
        sample = x.reshape(x.shape[0], *self.shape)
        noise = _noise_generators(x) if self.sampler_name == "ddpm" else None
        self.sampler.set_timesteps(self.sampling_steps)  # resets a multistep solver's history
        for t in tqdm(self.sampler.timesteps, desc=self.sampler_name, leave=False, disable=None):
            prediction = self.denoise(sample, t.to(sample.device))
            sample = self.sampler.step(prediction, int(t), sample, generator=noise).prev_sample
        return sample.clamp(-1.0, 1.0)


class DenoisingLoss:
    """The single-network objective of ddpm (``base.SingleNetworkObjective``): Ho et al. 2020,
    eq. 14 (L_simple), E_{t, eps} ||target - net(sqrt(a_t) x_0 + sqrt(1 - a_t) eps, t)||² with t
    uniform over the T steps and target eps, or v = sqrt(a_t) eps - sqrt(1 - a_t) x_0 (Salimans &
    Ho 2022). The MSE is taken in float32, so the network may run under autocast."""

    def __init__(self, options: DDPMOptions) -> None:
        from diffusers import DDPMScheduler

        self.schedule = DDPMScheduler(**_schedule(options))
        self.prediction_type = options.prediction_type

    def generator_loss(
        self, generator: nn.Module, real: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        noise = torch.randn_like(real)
        steps = self.schedule.config.num_train_timesteps
        t = torch.randint(0, steps, (real.shape[0],), device=real.device)
        noisy = self.schedule.add_noise(real, noise, t)
        target = (
            noise
            if self.prediction_type == "epsilon"
            else self.schedule.get_velocity(real, noise, t)
        )
        loss = F.mse_loss(generator(noisy, t).float(), target.float())
        return loss, {"g_loss": loss.detach()}


def build_ddpm(options: DDPMOptions, *, resolution: int, channels: int, latent_dim: int) -> GAN:
    """ddpm: a diffusers U-Net trained on L_simple (Ho et al. 2020), sampled by ``options.sampler``
    (DDIM, Song et al. 2021, by default); no discriminator. Its latent is the initial noise x_T,
    so ``latent_dim`` is C·R² whatever is asked; Adam with ``g_lr``/``g_betas``; EMA of the U-Net (``ema_decay``)."""
    generator = DiffusionGenerator(options, channels=channels, resolution=resolution)
    return GAN(
        name="ddpm",
        generator=generator,
        discriminator=None,
        objective=DenoisingLoss(options),
        latent_dim=math.prod(generator.shape),
        g_optimizer=adam_settings(options.g_lr, options.g_betas),
        ema_decay=ema_setting(options.ema_decay),
    )
