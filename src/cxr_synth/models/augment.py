"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same *kinds* of random, differentiable transforms are applied to real and to generated images
every time the discriminator sees them (D step and G step), so D cannot overfit a small training set
while G still gets gradients through the transform. Images are in [-1, 1]; each sample draws its own
parameters. For grayscale X-rays there is no saturation; with 2 channels (image + mask) the colour
transforms act on both channels alike, identically for real and fake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from .policy import TRANSFORMS, parse_policy


def _uniform(x: torch.Tensor) -> torch.Tensor:
    """One U[0, 1) draw per sample, shaped (B, 1, 1, 1) to broadcast over an image batch."""
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def rand_brightness(x: torch.Tensor) -> torch.Tensor:
    """Add a per-sample offset from U[-0.5, 0.5) (Zhao et al. 2020, §3 'color')."""
    return x + (_uniform(x) - 0.5)


def rand_contrast(x: torch.Tensor) -> torch.Tensor:
    """Scale each sample about its mean by U[0.5, 1.5) (Zhao et al. 2020, §3 'color')."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def rand_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each sample by up to ``ratio`` of its side in y and x, zero-filled (Zhao et al.)."""
    b, c, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (b, 1, 1), device=x.device)
    src_row = (
        torch.arange(h, device=x.device).view(1, h, 1) - dy
    )  # output (i, j) reads (i - dy, j - dx)
    src_col = torch.arange(w, device=x.device).view(1, 1, w) - dx
    inside = (src_row >= 0) & (src_row < h) & (src_col >= 0) & (src_col < w)  # (B, H, W)
    index = src_row.clamp(0, h - 1) * w + src_col.clamp(0, w - 1)
    moved = x.flatten(2).gather(2, index.view(b, 1, h * w).expand(b, c, h * w)).view(b, c, h, w)
    return moved * inside.unsqueeze(1).to(x.dtype)


def rand_cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a random square of side ``ratio`` x side per sample (DeVries & Taylor 2017)."""
    b, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # Centre anywhere in the image, so the square may be partly outside it.
    top = torch.randint(0, h, (b, 1, 1), device=x.device) - size_y // 2
    left = torch.randint(0, w, (b, 1, 1), device=x.device) - size_x // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    cut = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~cut).unsqueeze(1).to(x.dtype)


AUGMENTATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = dict(
    zip(TRANSFORMS, (rand_brightness, rand_contrast, rand_translation, rand_cutout), strict=True)
)  # by the names of cxr_synth.models.policy, which parses policies without torch


class DiffAugment:
    """Applies a DiffAugment policy to an image batch; the empty policy is the identity."""

    def __init__(self, policy: str | Iterable[str] | None = "color,translation,cutout") -> None:
        self.ops = parse_policy(policy)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops:
            x = AUGMENTATIONS[op](x)
        return x

    def __bool__(self) -> bool:
        return bool(self.ops)

    def __repr__(self) -> str:
        return f"DiffAugment({','.join(self.ops)!r})"
