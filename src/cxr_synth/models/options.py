"""Architecture options as models: one per family, with each architecture's defaults.

The DCGAN family (dcgan, lsgan, wgan_gp, proposed) shares one option set — the same networks
with switchable stabilisers — and differs in defaults and objective; StyleGAN has its own, and
so has the diffusion model (ddpm). A YAML ``<arch>.model.options`` section is validated against
these before any node runs.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator

from cxr_synth.models.policy import parse_policy
from cxr_synth.runtime.schema import Bool, Count, Float, Int, StrictModel

Width = Annotated[Int, Field(ge=1)]
LearningRate = Annotated[Float, Field(gt=0.0)]
Beta = Annotated[Float, Field(ge=0.0, lt=1.0)]
Share = Annotated[Float, Field(ge=0.0, lt=1.0)]
NonNegative = Annotated[Float, Field(ge=0.0)]


def _policy(value: Any) -> str:
    """A DiffAugment policy from YAML: "color,cutout", a list of names, or ""/null/false = off."""
    if value is True or isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"must be a DiffAugment policy like 'color,translation', got {value!r}")
    return ",".join(parse_policy(value))


Policy = Annotated[str, BeforeValidator(_policy)]


class ArchitectureOptions(StrictModel):
    """The base of every architecture's options model (what ``<arch>.model.options`` holds)."""


class GANOptions(ArchitectureOptions):
    """Options every GAN has: widths, Adam settings, EMA of G."""

    g_width: Width = 64  # channels at full resolution, doubling per halving up to max_width
    d_width: Width = 64  # D's channels at full resolution, doubling per halving
    max_width: Width = 512  # cap on the channels of both networks
    g_lr: LearningRate = 2e-4  # Adam learning rate of G
    d_lr: LearningRate = 2e-4  # Adam learning rate of D
    g_betas: tuple[Beta, Beta] = (0.5, 0.999)  # Adam betas of G
    d_betas: tuple[Beta, Beta] = (0.5, 0.999)  # Adam betas of D
    ema_decay: Share | None = None  # EMA of G's weights for sampling; null or 0 = off
    diffaugment: Policy = ""  # DiffAugment (Zhao et al. 2020) before D; "" = off


class DCGANFamilyOptions(GANOptions):
    """The DCGAN networks (Radford et al. 2016) and every stabiliser, each off unless set."""

    objective_options: ClassVar[frozenset[str]] = frozenset()  # loss options this one takes

    # normalisation after every D conv but the first
    d_norm: Literal["batch", "layer", "instance", "none"] = "batch"
    n_critic: Count = 1  # D steps per G step
    negative_slope: NonNegative = 0.0  # G activation: 0 = ReLU, > 0 = LeakyReLU
    dropout: Share = 0.0  # after every D activation
    spectral_norm: Bool = False  # Miyato et al. 2018, every D conv
    label_smoothing: Annotated[Float, Field(ge=0.0, lt=0.5)] = 0.0  # one-sided (Salimans 2016)
    r1_gamma: NonNegative = 0.0  # R1 penalty (Mescheder et al. 2018), lazy every r1_interval
    r1_interval: Count = 16  # lazy regularisation: R1 every this many D steps
    gp_lambda: NonNegative = 0.0  # WGAN-GP gradient penalty (Gulrajani et al. 2017)

    @model_validator(mode="after")
    def _objective_takes_its_options(self) -> DCGANFamilyOptions:
        loss_options = {"label_smoothing", "r1_gamma", "r1_interval", "gp_lambda"}
        given = {  # a loss option this loss does not have, set to something but its default
            key for key in loss_options - self.objective_options
            if getattr(self, key) != type(self).model_fields[key].default
        }  # fmt: skip
        if given:
            raise ValueError(
                f"{', '.join(sorted(given))} do(es) not apply to this architecture's loss "
                f"(it takes {', '.join(sorted(self.objective_options)) or 'none of them'})"
            )
        return self


class DCGANOptions(DCGANFamilyOptions):
    """dcgan: non-saturating BCE loss; the paper's Adam (2e-4, (0.5, 0.999))."""

    objective_options: ClassVar[frozenset[str]] = frozenset(
        {"label_smoothing", "r1_gamma", "r1_interval"}
    )


class LSGANOptions(DCGANFamilyOptions):
    """lsgan: least-squares loss (Mao et al. 2017), a=0, b=1, c=1."""


class WGANGPOptions(DCGANFamilyOptions):
    """wgan_gp: Wasserstein loss + gradient penalty; critic without BatchNorm (paper, §4)."""

    objective_options: ClassVar[frozenset[str]] = frozenset({"gp_lambda"})

    d_norm: Literal["layer", "instance", "none"] = "layer"
    n_critic: Count = 5
    gp_lambda: NonNegative = 10.0
    g_lr: LearningRate = 1e-4
    d_lr: LearningRate = 1e-4
    g_betas: tuple[Beta, Beta] = (0.0, 0.9)
    d_betas: tuple[Beta, Beta] = (0.0, 0.9)

    @model_validator(mode="before")
    @classmethod
    def _no_batchnorm(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("d_norm") == "batch":
            raise ValueError(
                "wgan_gp's critic cannot use BatchNorm (it breaks the per-sample gradient "
                "penalty); d_norm must be layer, instance or none"
            )
        return data


class ProposedOptions(DCGANOptions):
    """proposed: the paper's modified DCGAN exactly as its sections 3.2-3.3 describe it.

    G: BatchNorm + LeakyReLU after every transposed convolution; D: LeakyReLU + dropout, BatchNorm
    as in DCGAN; non-saturating BCE; Adam 2e-4 (DCGAN's betas). Nothing else: no spectral norm,
    DiffAugment, label smoothing or EMA (a reproduction tests the paper's model; the project's
    improvements are `ProposedTunedOptions`). The paper leaves two numbers open: the LeakyReLU
    slope (0.2, DCGAN's D slope, Radford et al. 2016 §3) and the dropout rate (0.3, the TensorFlow
    DCGAN tutorial's, which puts dropout after each LeakyReLU of D as the paper does).
    """

    negative_slope: NonNegative = 0.2
    dropout: Share = 0.3

    # what a run may change and still test the paper's model: sizes, not the recipe
    SIZE_OPTIONS: ClassVar[frozenset[str]] = frozenset({"g_width", "d_width", "max_width"})

    def paper_deviations(self) -> dict[str, tuple[Any, Any]]:
        """Options set away from the paper's model (size options aside): name -> (set, paper's)."""
        paper = type(self)()
        return {
            name: (getattr(self, name), getattr(paper, name))
            for name in type(self).model_fields
            if name not in self.SIZE_OPTIONS and getattr(self, name) != getattr(paper, name)
        }


class ProposedTunedOptions(DCGANOptions):
    """proposed_tuned: the project's variant of the paper's model (not in the paper), chosen by the
    ablation on the NIH sample (docs/results/ablation.md): LeakyReLU in G and an EMA of G's weights
    (Yazıcı et al. 2019) for sampling; D as DCGAN's (no dropout); every other stabiliser off."""

    negative_slope: NonNegative = 0.2
    ema_decay: Share | None = 0.999


class StyleGANOptions(GANOptions):
    """stylegan: compact StyleGAN2 (Karras et al. 2020), non-saturating loss + lazy R1."""

    g_width: Width = 128  # channels at full resolution, doubling per halving up to max_width
    d_width: Width = 128
    max_width: Width = 256
    w_dim: Width = 256  # width of the intermediate latent space W
    mapping_layers: Count = 8  # the paper's; StyleGAN2-ADA uses 2 for small datasets
    # share of batches with two latents mixed (the paper's 0.9)
    style_mixing_prob: Annotated[Float, Field(ge=0.0, le=1.0)] = 0.9
    mbstd_group_size: Count = 4  # group size of D's minibatch standard deviation layer
    r1_gamma: NonNegative | None = None  # null: 0.0002 R^2 / 32 (StyleGAN2-ADA heuristic)
    r1_interval: Count = 16  # lazy regularisation: R1 every this many D steps
    ema_decay: Share | None = 0.999
    g_lr: LearningRate = 0.0025
    d_lr: LearningRate = 0.0025
    g_betas: tuple[Beta, Beta] = (0.0, 0.99)
    d_betas: tuple[Beta, Beta] = (0.0, 0.99)


class DDPMOptions(ArchitectureOptions):
    """ddpm: denoising diffusion (Ho et al. 2020), a diffusers U-Net, sampled by DDIM (Song et al.
    2021), ancestral DDPM or DPM-Solver++ (Lu et al. 2022). The U-Net has self-attention in its middle block and at ``attention_resolutions``;
    GroupNorm uses 32 groups, or the largest count dividing every width."""

    # U-Net channels per level, the side halving between levels
    widths: list[Width] = Field(default=[64, 128, 256, 256], min_length=1)
    layers_per_block: Count = 2  # residual blocks per encoder level (the decoder has one more)
    # feature-map sides with self-attention; level 0 has side R / patch_size
    attention_resolutions: list[Count] = [16]
    dropout: Share = 0.1  # in the residual blocks (Ho et al. 2020: 0.1 on CIFAR-10)
    # p: the U-Net sees p x p patches as channels (Hoogeboom et al. 2023); 1 = pixels
    patch_size: Count = 1
    train_timesteps: Count = 1000  # T, steps of the forward (noising) process
    # betas: linear from 1e-4 to 0.02 (Ho et al. 2020) or cosine (Nichol & Dhariwal 2021)
    beta_schedule: Literal["linear", "cosine"] = "linear"
    # what the U-Net predicts: the noise (Ho et al. 2020) or v (Salimans & Ho 2022)
    prediction_type: Literal["epsilon", "v_prediction"] = "epsilon"
    # reverse process: DDIM, eta = 0 (Song et al. 2021); ancestral DDPM (Ho et al. 2020, Alg. 2;
    # its extra noise seeded per image by z); DPM-Solver++(2M) (Lu et al. 2022)
    sampler: Literal["ddim", "ddpm", "dpm_solver++"] = "ddim"
    sampling_steps: Count = 50  # sampler steps per image (ddpm at T steps is Ho et al.'s sampler)
    g_lr: LearningRate = 2e-4  # Adam learning rate of the U-Net (Ho et al. 2020)
    g_betas: tuple[Beta, Beta] = (0.9, 0.999)  # Adam betas of the U-Net
    ema_decay: Share | None = 0.9999  # EMA of the U-Net's weights for sampling; null or 0 = off

    @model_validator(mode="after")
    def _fewer_sampling_steps_than_timesteps(self) -> DDPMOptions:
        if self.sampling_steps > self.train_timesteps:
            raise ValueError(
                f"sampling_steps ({self.sampling_steps}) must not exceed train_timesteps "
                f"({self.train_timesteps})"
            )
        return self


class Mask2ImageOptions(GANOptions):
    """mask2image: pix2pix (Isola et al. 2017) from a lung mask — a U-Net G, a PatchGAN D on the
    (image, mask) pair, non-saturating loss + λ·L1; Adam 2e-4, (0.5, 0.999) as in the paper."""

    g_depth: Count = 4  # U-Net levels of G (stride-2 convolutions); at most log2(resolution)
    d_layers: Count = 3  # stride-2 convolutions of the PatchGAN D (pix2pix's 70x70 at 256²: 3)
    dropout: Share = 0.5  # noise: dropout in G's decoder, also when sampling (pix2pix §3.1)
    dropout_layers: Annotated[Int, Field(ge=0)] = 3  # innermost decoder levels with dropout
    l1_lambda: NonNegative = 100.0  # weight of the L1 distance to the real image (pix2pix: 100)
