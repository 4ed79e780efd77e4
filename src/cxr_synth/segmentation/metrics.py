"""Per-image overlap scores of binary masks, and the Dice + BCE training loss.

Scores are computed per image, then averaged by the caller (a mean over images weighs every
image equally, unlike a Dice over all pixels pooled). When both masks of an image are empty,
Dice and IoU are defined as 1.0: the prediction is exactly right.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _binary(mask: torch.Tensor, name: str) -> torch.Tensor:
    """(N, 1, H, W) or (N, H, W) masks of bools or {0, 1} values -> bool (N, H*W)."""
    if mask.ndim == 4:
        if mask.shape[1] != 1:
            raise ValueError(f"{name} must have one channel, got shape {tuple(mask.shape)}")
        mask = mask[:, 0]
    if mask.ndim != 3:
        raise ValueError(f"{name} must be (N, 1, H, W) or (N, H, W), got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        if not ((mask == 0) | (mask == 1)).all():
            raise ValueError(
                f"{name} must be binary (bool or 0/1); threshold probabilities or logits first "
                "(e.g. logits > 0)"
            )
        mask = mask != 0
    return mask.flatten(1)


def _overlaps(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image |P ∩ T| and |P| + |T|, as float64."""
    p, t = _binary(pred, "pred"), _binary(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    intersection = (p & t).sum(1, dtype=torch.float64)
    return intersection, p.sum(1, dtype=torch.float64) + t.sum(1, dtype=torch.float64)


def dice_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice 2|P ∩ T| / (|P| + |T|) per image, shape (N,); 1.0 where both masks are empty."""
    intersection, total = _overlaps(pred, target)
    return torch.where(total > 0, 2 * intersection / total.clamp(min=1), 1.0)


def iou_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU |P ∩ T| / |P ∪ T| per image, shape (N,); 1.0 where both masks are empty."""
    intersection, total = _overlaps(pred, target)
    union = total - intersection
    return torch.where(union > 0, intersection / union.clamp(min=1), 1.0)


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy on logits + (1 - mean soft Dice over images), weighted equally.

    Soft Dice uses sigmoid probabilities: (2 Σ p·t + smooth) / (Σ p + Σ t + smooth) per image;
    ``smooth`` keeps empty masks defined (an empty target predicted empty scores 1).
    Computed in float32 whatever the autocast dtype of ``logits``.
    """
    logits, target = logits.float(), target.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    probs, target = torch.sigmoid(logits).flatten(1), target.flatten(1)
    soft_dice = (2 * (probs * target).sum(1) + smooth) / (probs.sum(1) + target.sum(1) + smooth)
    return bce + (1 - soft_dice.mean())
