"""The project's ddpm against diffusers' documented unconditional recipe, step by step (issue #26).

benchmarks/ddpm_reference.py's reference (diffusers' ``train_unconditional.py`` in plain torch)
in its ``matched`` form (the project's optimiser and EMA warm-up): from the same initial U-Net,
on the same batches with the same seed, ``build_gan("ddpm")`` + ``train_gan`` must give the
same loss at every step and the same raw and EMA weights, and its ancestral sampler the pixel
statistics of diffusers' ``DDPMPipeline`` on those weights.
"""

import numpy as np
import pytest
import torch

from cxr_synth.models.registry import build_gan
from cxr_synth.training import train_gan
from tests.benchmarks import load_benchmark

pytestmark = pytest.mark.slow

OPTIONS = {"widths": [8, 16], "layers_per_block": 1, "attention_resolutions": [], "g_lr": 1e-3,
           "g_betas": (0.95, 0.999), "sampling_steps": 2}  # fmt: skip
BATCH, EPOCHS, SEED = 8, 3, 5


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("ddpm_reference")


def _images(n=16, size=16):
    """Bright discs on a darker, graded background, uint8."""
    yy, xx = np.mgrid[:size, :size]
    rng = np.random.default_rng(0)
    discs = [(yy - rng.uniform(4, 12)) ** 2 + (xx - rng.uniform(4, 12)) ** 2 < 10 for _ in range(n)]
    return np.stack([np.where(d, 230, 40 + 6 * yy) for d in discs]).astype(np.uint8)


def test_ddpm_trains_and_samples_as_the_diffusers_recipe(bench):
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    gan = build_gan("ddpm", resolution=16, seed=SEED, **OPTIONS)
    unet = UNet2DModel.from_config(gan.generator.unet.config)
    unet.load_state_dict(gan.generator.unet.state_dict())
    data, log = bench.RecordingDataset(_images()), bench.LossLog()
    config = {"epochs": EPOCHS, "batch_size": BATCH, "device": "cpu", "precision": "fp32",
              "seed": SEED, "log_every": 1, "eval_every": EPOCHS, "grid_samples": 1}  # fmt: skip
    result = train_gan(gan, data, config, tracker=log)

    batches = data.batches(BATCH)
    expected, averaged = bench.train_reference(
        unet, batches, matched=True, lr=OPTIONS["g_lr"], warmup=0, p=1, seed=SEED
    )
    assert len(log.losses) == len(expected) == EPOCHS * 16 // BATCH
    torch.testing.assert_close([log.losses[k] for k in sorted(log.losses)], expected,
                               rtol=1e-6, atol=0)  # fmt: skip
    for name, value in unet.state_dict().items():
        torch.testing.assert_close(result.final_state["generator"][f"unet.{name}"], value)
    ema = result.final_state["ema"]
    for name, value in averaged.state_dict().items():
        torch.testing.assert_close(ema[f"unet.{name}"], value, rtol=1e-5, atol=1e-6)

    # the same weights, sampled by the project's ancestral sampler and by DDPMPipeline
    ancestral = {**OPTIONS, "sampler": "ddpm", "sampling_steps": 1000}
    generator = build_gan("ddpm", resolution=16, **ancestral).generator.eval()
    generator.load_state_dict(ema)
    n = 16
    with torch.no_grad():
        ours = generator(torch.randn(n, 16 * 16, generator=torch.Generator().manual_seed(1)))
        scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
        pipeline = DDPMPipeline(unet=averaged.eval(), scheduler=scheduler)
        pipeline.set_progress_bar_config(disable=True)
        theirs = pipeline(batch_size=n, generator=torch.Generator().manual_seed(2),
                          output_type="np").images  # fmt: skip
    theirs = torch.from_numpy(theirs).permute(0, 3, 1, 2) * 2 - 1
    # 16 images of 256 pixels: the pixel means and stds of two independent draws differed by
    # 0.008 and 0.006 (seed noise); a wrong scale, clip, variance or weights moves them more
    assert abs(float(ours.mean() - theirs.mean())) < 0.05
    assert abs(float(ours.std() - theirs.std())) < 0.05
