"""The project's ddpm against diffusers' documented unconditional recipe, step by step (issue #26).

diffusers' ``train_unconditional.py`` example, written here in plain torch with the project's
optimiser (Adam, constant learning rate, no clipping) and EMA rule (``EMAModel`` without its
power warm-up: decay (1 + n)/(10 + n), capped): from the same initial U-Net, on the same
batches with the same seed, ``build_gan("ddpm")`` + ``train_gan`` must give the same loss at
every step and the same raw and EMA weights, and its ancestral sampler the statistics of
``DDPMPipeline`` on those weights. benchmarks/ddpm_reference.py is the long version.
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cxr_synth.data.torch_data import ChestXrayDataset
from cxr_synth.models.registry import build_gan
from cxr_synth.training import train_gan

pytestmark = pytest.mark.slow

OPTIONS = {"widths": [8, 16], "layers_per_block": 1, "attention_resolutions": [], "g_lr": 1e-3,
           "g_betas": (0.95, 0.999), "sampling_steps": 2}  # fmt: skip
BATCH, EPOCHS, SEED = 8, 3, 5


class _Recording(ChestXrayDataset):
    def __init__(self, images):
        super().__init__(images)
        self.read = []

    def __getitem__(self, index):
        self.read.append(index)
        return super().__getitem__(index)


class _Losses:
    def __init__(self):
        self.values = []

    def log_params(self, params):
        pass

    def log_metrics(self, metrics, step):
        if "train/g_loss" in metrics:
            self.values.append(metrics["train/g_loss"])

    def log_image(self, image, artifact_path):
        pass


def _images(n=16, size=16):
    """Bright discs on a darker, graded background, uint8."""
    yy, xx = np.mgrid[:size, :size]
    rng = np.random.default_rng(0)
    discs = [(yy - rng.uniform(4, 12)) ** 2 + (xx - rng.uniform(4, 12)) ** 2 < 10 for _ in range(n)]
    return np.stack([np.where(d, 230, 40 + 6 * yy) for d in discs]).astype(np.uint8)


def _reference(unet, batches, lr):
    """train_unconditional.py's step: noise, uniform t, add_noise, MSE on the noise, EMA."""
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    noise_scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    optimizer = torch.optim.Adam(unet.parameters(), lr=lr, betas=(0.95, 0.999))
    ema = EMAModel(unet.parameters(), decay=0.9999, use_ema_warmup=False)
    torch.manual_seed(SEED)
    losses = []
    unet.train()
    for clean in batches:
        noise = torch.randn(clean.shape)
        timesteps = torch.randint(0, 1000, (clean.shape[0],)).long()
        noisy = noise_scheduler.add_noise(clean, noise, timesteps)
        loss = F.mse_loss(unet(noisy, timesteps).sample, noise)
        loss.backward()
        optimizer.step()
        ema.step(unet.parameters())
        optimizer.zero_grad()
        losses.append(loss.item())
    averaged = copy.deepcopy(unet)
    ema.copy_to(averaged.parameters())
    return losses, averaged


def test_ddpm_trains_and_samples_as_the_diffusers_recipe():
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    images = _images()
    gan = build_gan("ddpm", resolution=16, seed=SEED, **OPTIONS)
    unet = UNet2DModel.from_config(gan.generator.unet.config)
    unet.load_state_dict(gan.generator.unet.state_dict())
    data, losses = _Recording(images), _Losses()
    config = {"epochs": EPOCHS, "batch_size": BATCH, "device": "cpu", "precision": "fp32",
              "seed": SEED, "log_every": 1, "eval_every": EPOCHS, "grid_samples": 1}  # fmt: skip
    result = train_gan(gan, data, config, tracker=losses)

    plain = ChestXrayDataset(images)
    batches = [torch.stack([plain[i] for i in data.read[k : k + BATCH]])
               for k in range(0, len(data.read), BATCH)]  # fmt: skip
    expected, averaged = _reference(unet, batches, OPTIONS["g_lr"])
    assert len(losses.values) == len(expected) == EPOCHS * len(images) // BATCH
    torch.testing.assert_close(losses.values, expected, rtol=1e-6, atol=0)
    for name, value in unet.state_dict().items():
        torch.testing.assert_close(result.final_state["generator"][f"unet.{name}"], value)
    ema = result.final_state["ema"]
    for name, value in averaged.state_dict().items():
        torch.testing.assert_close(ema[f"unet.{name}"], value, rtol=1e-5, atol=1e-6)

    # the same weights, sampled by the project's ancestral sampler and by DDPMPipeline
    ancestral = {**OPTIONS, "sampler": "ddpm", "sampling_steps": 1000}
    generator = build_gan("ddpm", resolution=16, **ancestral).generator.eval()
    generator.load_state_dict(ema)
    n = 32
    with torch.no_grad():
        ours = generator(torch.randn(n, 16 * 16, generator=torch.Generator().manual_seed(1)))
        scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
        pipeline = DDPMPipeline(unet=averaged.eval(), scheduler=scheduler)
        pipeline.set_progress_bar_config(disable=True)
        theirs = pipeline(batch_size=n, generator=torch.Generator().manual_seed(2),
                          output_type="np").images  # fmt: skip
    theirs = torch.from_numpy(theirs).permute(0, 3, 1, 2) * 2 - 1
    # 32 images of 256 pixels: the pixel means and stds of two independent draws differed by
    # 0.006 and 0.009 (seed noise); a wrong scale, clip, variance or weights moves them more
    assert abs(float(ours.mean() - theirs.mean())) < 0.05
    assert abs(float(ours.std() - theirs.std())) < 0.05
