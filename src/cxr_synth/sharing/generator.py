"""A trained generator as a thing to share: its weights and spec, ready to sample, save and load
from a model folder; PNGs of its images.

Library code (no Kedro): a machine with only this package installed can sample.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from cxr_synth.runtime.atomic import atomic_write
from cxr_synth.runtime.errors import UserError
from cxr_synth.sharing.sampling import sample_images

WEIGHTS = "generator.pt"
SPEC = "generator_spec.json"


@dataclass(frozen=True)
class Generator:
    """A trained generator: its weights and spec (``<arch>_generator_spec``), ready to sample.

    ``metadata`` travels with it into MLflow (e.g. ``training_data`` counts); ``origin`` says
    where it was loaded from (``source``, and ``run_id``/``model_id`` for MLflow models).
    """

    state_dict: Mapping[str, torch.Tensor]
    spec: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    origin: Mapping[str, Any] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return str(self.spec["architecture"])

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W) for grayscale generators, (C, H, W) for several channels (image/mask pairs)."""
        size, channels = int(self.spec["resolution"]), int(self.spec.get("channels", 1))
        return (size, size) if channels == 1 else (channels, size, size)

    def sample(
        self,
        n: int,
        seed: int = 0,
        *,
        truncation_psi: float = 1.0,
        batch_size: int = 64,
        device: str = "auto",
    ) -> np.ndarray:
        """``n`` uint8 images of ``image_shape``, reproducible from ``seed`` (``sample_images``)."""
        images = sample_images(
            self.state_dict,
            self.spec,
            n_images=n,
            batch_size=batch_size,
            seed=seed,
            device=device,
            truncation_psi=truncation_psi,
        )
        return np.ascontiguousarray(images.reshape(n, *self.image_shape))

    def save(self, folder: str | os.PathLike) -> Path:
        """``folder``/generator.pt and generator_spec.json (the project model folder layout)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / WEIGHTS) as handle:
            torch.save(dict(self.state_dict), handle)
        with atomic_write(folder / SPEC, "w", encoding="utf-8") as handle:
            json.dump(dict(self.spec), handle, indent=2)
        return folder


def write_pngs(images: np.ndarray, folder: str | os.PathLike) -> list[Path]:
    """One PNG per image in ``folder`` (created), ``synthetic_00000.png`` on from the first free
    number, so existing files are never overwritten; no text chunks. Pair images (N, C, H, W)
    are written as C images side by side."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    taken = [
        int(m.group(1))
        for p in folder.iterdir()
        if (m := re.fullmatch(r"synthetic_(\d+)\.png", p.name))
    ]
    start = max(taken, default=-1) + 1
    width = max(5, len(str(start + len(images) - 1)))
    written = []
    for offset, image in enumerate(images):
        pixels = np.concatenate(list(image), axis=1) if image.ndim == 3 else image
        path = folder / f"synthetic_{start + offset:0{width}d}.png"
        with atomic_write(path) as handle:
            Image.fromarray(np.ascontiguousarray(pixels), mode="L").save(handle, format="PNG")
        written.append(path)
    return written


def training_data_summary(index: Any, splits: list[str]) -> dict[str, Any]:
    """Counts of the images (and patients) per split of an images index and of the ``splits``
    a generator learned from; no identifiers."""

    def counts(rows: Any) -> dict[str, int]:
        out = {"images": int(len(rows))}
        if "patient_id" in rows:
            out["patients"] = int(rows["patient_id"].nunique())
        return out

    return {
        "training_splits": list(splits),
        "training": counts(index[index["split"].isin(splits)]),
        "by_split": {str(name): counts(rows) for name, rows in index.groupby("split")},
    }


def load_folder(folder: Path) -> Generator:
    """The generator in a model folder (``generator.pt`` + ``generator_spec.json``)."""
    missing = [name for name in (WEIGHTS, SPEC) if not (folder / name).is_file()]
    if missing:
        raise UserError(
            f"{folder}: no {' or '.join(missing)}; a model folder holds {WEIGHTS} + {SPEC}"
        )
    state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
    spec = json.loads((folder / SPEC).read_text(encoding="utf-8"))
    return Generator(state, spec, origin={"source": "folder"})
