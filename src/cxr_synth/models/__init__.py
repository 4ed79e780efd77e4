"""The GAN zoo in pure PyTorch (no Kedro): build one by name with `build_gan`.

>>> import torch
>>> gan = build_gan("proposed", resolution=128, g_width=32)
>>> images = gan.generator(torch.randn(8, gan.latent_dim))  # (8, 1, 128, 128) in [-1, 1]

Names load on first use (``cxr_synth.runtime.lazy``): ``cxr_synth.models.registry`` (the
architecture names and options) imports no torch.
"""

from cxr_synth.runtime.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "augment": ["DiffAugment"],
        "base": ["GAN", "Objective"],
        "losses": [
            "LeastSquares",
            "NonSaturating",
            "NonSaturatingR1",
            "WassersteinGP",
            "gradient_penalty",
            "r1_penalty",
        ],
        "registry": ["ARCHITECTURES", "architecture_options", "build_gan"],
    },
)
