"""DiffAugment policies by name, without torch: the options models validate them when the
parameters load (every run, ``cxr_synth.models.options``); ``cxr_synth.models.augment`` applies
them."""

from __future__ import annotations

from collections.abc import Iterable

TRANSFORMS = ("brightness", "contrast", "translation", "cutout")  # augment.AUGMENTATIONS
ALIASES: dict[str, tuple[str, ...]] = {
    "color": ("brightness", "contrast")
}  # no saturation: grayscale


def parse_policy(policy: str | Iterable[str] | None) -> tuple[str, ...]:
    """Turn "color,translation,cutout" (or a list; "" / None / False = off) into transform names."""
    if policy is None or policy is False:
        return ()
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    ops: list[str] = []
    for raw in names:
        name = str(raw).strip().lower()
        if not name:
            continue
        if name in ALIASES:
            ops.extend(ALIASES[name])
        elif name in TRANSFORMS:
            ops.append(name)
        else:
            valid = sorted([*TRANSFORMS, *ALIASES])
            raise ValueError(f"unknown DiffAugment transform {name!r}; valid: {valid}")
    return tuple(ops)
