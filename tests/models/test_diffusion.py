"""ddpm: the diffusers U-Net, its samplers from seeded noise, the denoising loss, its options."""

import math

import pytest
import torch

from cxr_synth.models.diffusion import build_ddpm
from cxr_synth.models.options import DDPMOptions
from cxr_synth.runtime.schema import ParameterError

TINY = {"widths": [8, 16], "layers_per_block": 1, "attention_resolutions": [8], "sampling_steps": 4}


def _ddpm(resolution=16, channels=1, seed=0, **options):
    torch.manual_seed(seed)
    return build_ddpm(
        DDPMOptions.parse({**TINY, **options}),
        resolution=resolution,
        channels=channels,
        latent_dim=100,
    )


@pytest.mark.parametrize(
    ("channels", "options"),
    [(1, {}), (2, {}), (1, {"patch_size": 2, "attention_resolutions": [4]})],
    ids=["image", "image+mask", "patches"],
)
def test_samples_are_images_in_the_generators_range(channels, options):
    gan = _ddpm(channels=channels, **options)
    assert gan.discriminator is None and gan.latent_dim == channels * 16 * 16
    with torch.no_grad():
        images = gan.generator.eval()(torch.randn(3, gan.latent_dim))
    assert images.shape == (3, channels, 16, 16)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    with pytest.raises(ValueError, match=r"noise z of shape \(B, \d+\)"):
        gan.generator(torch.randn(3, 100))


def test_ddim_sampling_is_deterministic_given_the_noise():
    gan = _ddpm()
    generator = gan.generator.eval()
    z = torch.randn(4, gan.latent_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        first, again = generator(z), generator(z.clone())
        alone = generator(z[1:2])  # a sample does not depend on the rest of its batch
        other = generator(
            torch.randn(4, gan.latent_dim, generator=torch.Generator().manual_seed(8))
        )
    assert torch.equal(first, again)
    torch.testing.assert_close(alone, first[1:2], atol=1e-3, rtol=0)  # float sums
    assert not torch.allclose(first, other)
    rebuilt = _ddpm(seed=1).generator.eval()  # other initial weights, then the trained ones
    rebuilt.load_state_dict(generator.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt(z), first)


SAMPLERS = ["ddim", "ddpm", "dpm_solver++"]


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_is_a_function_of_each_images_noise(sampler):
    gan = _ddpm(sampler=sampler)
    generator = gan.generator.eval()
    z = torch.randn(4, gan.latent_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        first = generator(z)
        torch.manual_seed(123)  # torch's RNG plays no part, even for the ancestral sampler
        again = generator(z.clone())  # a multistep solver's history is reset between calls
        alone = generator(z[1:2])
    assert first.min() >= -1 and first.max() <= 1 and first.std() > 0
    assert torch.equal(first, again)
    torch.testing.assert_close(alone, first[1:2], atol=1e-3, rtol=0)  # float sums


def test_the_samplers_share_the_training_schedule_and_start_at_pure_noise():
    trained = {"beta_schedule": "cosine", "prediction_type": "v_prediction", "train_timesteps": 500}
    for sampler in SAMPLERS:
        gan = _ddpm(sampler=sampler, sampling_steps=5, **trained)
        scheduler, training = gan.generator.sampler, gan.objective.schedule
        for key in ("num_train_timesteps", "beta_schedule", "prediction_type"):
            assert scheduler.config[key] == training.config[key], (sampler, key)
        assert len(scheduler.timesteps) == 5 and int(scheduler.timesteps[0]) == 499
    solver = _ddpm(sampler="dpm_solver++").generator.sampler.config
    assert solver.algorithm_type == "dpmsolver++" and solver.solver_order == 2
    assert solver.thresholding and solver.dynamic_thresholding_ratio == 0.995  # Saharia 2022
    assert solver.sample_max_value == math.inf


def test_ancestral_ddpm_at_T_steps_is_diffusers_ddpm_pipeline():
    """sampler ddpm with sampling_steps = T runs DDPMPipeline's loop (Ho et al. 2020, Alg. 2)."""
    from diffusers import DDPMScheduler

    from cxr_synth.models.diffusion import _noise_generators

    gan = _ddpm(sampler="ddpm", sampling_steps=20, train_timesteps=20)
    generator = gan.generator.eval()
    z = torch.randn(3, 16 * 16, generator=torch.Generator().manual_seed(1))
    scheduler = DDPMScheduler(num_train_timesteps=20, beta_schedule="linear")
    scheduler.set_timesteps(20)
    image, noise = z.reshape(3, 1, 16, 16), _noise_generators(z)
    with torch.no_grad():
        for t in scheduler.timesteps:  # DDPMPipeline.__call__, with per-image generators
            image = scheduler.step(generator.unet(image, t).sample, t, image,
                                   generator=noise).prev_sample  # fmt: skip
        assert torch.equal(generator(z), image.clamp(-1, 1))


def _blobs(n=8, size=16):
    """A tiny data set: bright discs on a dark background, in [-1, 1]."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centres = torch.linspace(5, size - 5, n)
    discs = [((yy - c) ** 2 + (xx - size / 2) ** 2 < 12).float() for c in centres]
    return torch.stack(discs)[:, None] * 2 - 1


V_COSINE = {"prediction_type": "v_prediction", "beta_schedule": "cosine"}


@pytest.mark.parametrize("options", [{}, V_COSINE], ids=["eps", "v-cosine"])
def test_the_denoising_loss_decreases_on_a_tiny_set(options):
    gan = _ddpm(dropout=0.0, **options)
    real = _blobs()
    optimizer = torch.optim.Adam(gan.generator.parameters(), lr=2e-3)

    def fixed_loss() -> float:  # the same noise and timesteps before and after training
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(0)
            return float(torch.stack([gan.objective.generator_loss(gan.generator, real)[0]
                                      for _ in range(8)]).mean())  # fmt: skip

    before = fixed_loss()
    for _ in range(60):
        loss, logs = gan.objective.generator_loss(gan.generator, real)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss) and set(logs) == {"g_loss"}
    assert fixed_loss() < 0.6 * before


def test_the_loss_runs_under_bf16_autocast():
    gan = _ddpm()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = gan.objective.generator_loss(gan.generator, _blobs())
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in gan.generator.parameters() if p.requires_grad)


def test_optimiser_and_ema_settings():
    gan = _ddpm(g_lr=1e-4, ema_decay=0.999)
    assert gan.g_optimizer == {"lr": 1e-4, "betas": (0.9, 0.999)} and gan.ema_decay == 0.999
    assert _ddpm(ema_decay=None).ema_decay is None


@pytest.mark.parametrize(
    ("options", "resolution", "message"),
    [
        ({"sampling_steps": 20, "train_timesteps": 10}, 16, "must not exceed train_timesteps"),
        ({"attention_resolutions": [32]}, 16, r"\[32\] are no level's side.*\[16, 8\]"),
        ({"widths": [4, 4, 4, 4, 4]}, 8, "needs a side divisible by 16"),
        ({"patch_size": 3}, 16, "patch_size 3 does not divide the resolution 16"),
        ({"beta_schedule": "quadratic"}, 16, "beta_schedule"),
        ({"widths": []}, 16, "widths"),
        ({"samplng_steps": 5}, 16, "did you mean 'sampling_steps'"),
        ({"sampler": "dpm_solver"}, 16, "sampler"),
    ],
)
def test_bad_options_are_refused_by_name(options, resolution, message):
    with pytest.raises((ParameterError, ValueError), match=message):
        _ddpm(resolution=resolution, **options)


def test_registry_build_and_seeded_sampling_from_a_spec():
    from cxr_synth.models import build_gan
    from cxr_synth.sharing.sampling import sample_images

    gan = build_gan("ddpm", resolution=16, channels=2, seed=0, **TINY)
    assert gan.options["latent_dim"] == gan.latent_dim == 2 * 16 * 16  # its noise, not 100
    spec = {"architecture": "ddpm", "options": {**TINY}, "resolution": 16, "channels": 2,
            "latent_dim": gan.latent_dim}  # fmt: skip
    state = gan.generator.state_dict()
    first = sample_images(state, spec, n_images=5, batch_size=2, seed=3, device="cpu")
    again = sample_images(state, spec, n_images=5, batch_size=5, seed=3, device="cpu")
    assert first.shape == (5, 2, 16, 16) and first.dtype == "uint8"
    assert abs(first.astype(int) - again).max() <= 1  # batch size changes float sums only
    other = sample_images(state, spec, n_images=5, batch_size=5, seed=4, device="cpu")
    assert (first != other).any()
