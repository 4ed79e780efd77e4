"""U-Net (Ronneberger et al. 2015) for binary segmentation, returning logits.

Each level is a double 3x3 conv (Conv -> BatchNorm -> ReLU, twice, 'same' padding, so the output
has the input's size); going down is a 2x2 max-pool that doubles the channels of the next block,
going up a stride-2 transposed conv that halves them before concatenating the skip connection.
"""

from __future__ import annotations

import torch
from torch import nn


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Image (B, in_channels, H, W) -> logits (B, out_channels, H, W).

    ``depth`` is the number of down-sampling levels; channels are ``base_width * 2**level``
    (64-128-256-512-1024 for the paper's ``base_width=64, depth=4``). H and W must be divisible
    by ``2**depth``.
    """

    def __init__(
        self, in_channels: int = 1, out_channels: int = 1, base_width: int = 16, depth: int = 4
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("base_width", base_width),
            ("depth", depth),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.depth = depth
        widths = [base_width * 2**level for level in range(depth + 1)]
        self.stem = _double_conv(in_channels, widths[0])
        self.down = nn.ModuleList(_double_conv(widths[i], widths[i + 1]) for i in range(depth))
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
            for i in reversed(range(depth))
        )
        self.up = nn.ModuleList(
            _double_conv(2 * widths[i], widths[i]) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        multiple = 2**self.depth
        if height % multiple or width % multiple:
            raise ValueError(
                f"UNet with depth {self.depth} needs height and width divisible by {multiple}, "
                f"got {height}x{width}: resize or pad the images to a multiple of {multiple} "
                "(e.g. 256x256), or lower depth"
            )
        x = self.stem(x)
        skips = []
        for block in self.down:
            skips.append(x)
            x = block(self.pool(x))
        for upsample, block, skip in zip(self.upsample, self.up, reversed(skips), strict=True):
            x = block(torch.cat([skip, upsample(x)], dim=1))
        return self.head(x)
