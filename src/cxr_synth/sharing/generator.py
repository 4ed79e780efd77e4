"""A trained generator as a thing to share: its weights and spec, ready to sample, save and load
from a model folder; PNGs of its images.

Library code (no Kedro): a machine with only this package installed can sample.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import tempfile
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
DIGEST = "weights_sha256"  # the spec's record of the weights it belongs to


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
        """``folder``/generator.pt and generator_spec.json (the project model folder layout); the
        spec records the weights' digest (``weights_digest``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / WEIGHTS) as handle:
            torch.save(dict(self.state_dict), handle)
        spec = {**self.spec, DIGEST: weights_digest(self.state_dict)}
        with atomic_write(folder / SPEC, "w", encoding="utf-8") as handle:
            json.dump(spec, handle, indent=2)
        return folder


def write_pngs(images: np.ndarray, folder: str | os.PathLike) -> list[Path]:
    """One PNG per image in ``folder`` (created), ``synthetic_00000.png`` on from the first free
    number; no text chunks. Pair images (N, C, H, W) are written as C images side by side.

    Every name is claimed by an exclusive publish (:func:`_publish_new`), so files already there,
    and those of another call writing to the same folder at the same time, are never overwritten.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    taken = [
        int(m.group(1))
        for p in folder.iterdir()
        if (m := re.fullmatch(r"synthetic_(\d+)\.png", p.name))
    ]
    number = max(taken, default=-1) + 1
    width = max(5, len(str(number + len(images) - 1)))
    written = []
    for image in images:
        pixels = np.concatenate(list(image), axis=1) if image.ndim == 3 else image
        png = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels), mode="L").save(png, format="PNG")
        while not _publish_new(png.getvalue(), path := folder / f"synthetic_{number:0{width}d}.png"):
            number += 1  # another call took it
        written.append(path)
        number += 1
    return written


def _publish_new(data: bytes, path: Path) -> bool:
    """Write ``data`` to ``path`` only if no file has that name: a complete temp file is hard-linked
    to it (``link`` fails on an existing name, atomically). False if the name is taken."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(temp)


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


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's names, dtypes, shapes and values: the same however (and
    whenever) ``torch.save`` wrote them, so a spec can name its weights before they are saved."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_pair(state_dict: Mapping[str, torch.Tensor], spec: Mapping[str, Any], where: Any) -> None:
    """Refuse weights that are not those ``spec`` was written with (a kill between the two saves
    of a model folder, ``where``); specs without a digest (older saves) are not checked."""
    if DIGEST in spec and spec[DIGEST] != weights_digest(state_dict):
        raise UserError(
            f"{where}: {WEIGHTS} does not match {SPEC} (a save was interrupted); "
            "retrain or restore both"
        )


def load_weights(path: Path, shown: Any = None) -> dict[str, torch.Tensor]:
    """The state dict in ``path``, loaded as weights only (``shown``: its name in errors)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # PyTorch's message advises weights_only=False: not here
        raise UserError(
            f"{shown or path}: not a cxr_synth generator file, refused; never load untrusted "
            "files with weights_only=False"
        ) from None


def load_folder(folder: Path, shown: Any = None) -> Generator:
    """The generator in a model folder (``generator.pt`` + ``generator_spec.json``), its pair
    checked (``check_pair``); ``shown``: the folder's name in errors."""
    shown = shown or folder
    missing = [name for name in (WEIGHTS, SPEC) if not (folder / name).is_file()]
    if missing:
        raise UserError(
            f"{shown}: no {' or '.join(missing)}; a model folder holds {WEIGHTS} + {SPEC}"
        )
    state = load_weights(folder / WEIGHTS, f"{shown}/{WEIGHTS}")
    spec = json.loads((folder / SPEC).read_text(encoding="utf-8"))
    check_pair(state, spec, shown)
    return Generator(state, spec, origin={"source": "folder"})
