"""Trained generators from any source, in one call.

``generate(source, n, seed=...)`` samples from

- a project model folder, ``data/06_models/<arch>/`` (``generator.pt`` + ``generator_spec.json``);
- an MLflow model URI (``runs:/<run_id>/<arch>_generator``, ``models:/<name>/<version>``), a
  model logged by the synthesis stage (``cxr_synth.sharing.pyfunc``), or its downloaded folder:
  its spec and weights are read as data, none of its code runs;
- a training checkpoint (``epoch_000010.pt``: the best generator it holds, else the EMA, else G).

Library code (no Kedro): a machine with only this package installed can sample.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from cxr_synth.models.registry import architecture_options
from cxr_synth.runtime.devices import resolve_device
from cxr_synth.runtime.errors import UserError
from cxr_synth.runtime.tracking_server import check_tracking_server
from cxr_synth.sharing.generator import (
    SPEC,
    WEIGHTS,
    Generator,
    check_pair,
    load_folder,
    load_weights,
)
from cxr_synth.sharing.params import check_count

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")  # runs:/, models:/, mlflow-artifacts:/, s3://


def load_generator(source: str | os.PathLike) -> Generator:
    """The generator at ``source``: a model folder, an MLflow model URI or a checkpoint file."""
    text = os.fspath(source)
    path = Path(text)
    if (_URI.match(text) and not path.exists()) or (path / "MLmodel").is_file():
        from cxr_synth.sharing.pyfunc import read_mlflow_generator

        if not path.exists():  # a URI: one bounded request, not minutes of MLflow's retries
            import mlflow

            check_tracking_server(mlflow.get_tracking_uri())
        return read_mlflow_generator(text)
    if path.is_dir():
        return load_folder(path)
    if path.is_file():
        return _from_file(path)
    raise UserError(
        f"{text}: not a model folder ({WEIGHTS} + {SPEC}), checkpoint file or MLflow model URI "
        "(runs:/<run_id>/<name>, models:/<name>/<version>)"
    )


def generate(
    source: str | os.PathLike | Generator,
    n: int,
    seed: int = 0,
    *,
    truncation_psi: float = 1.0,
    batch_size: int = 64,
    device: str = "auto",
) -> np.ndarray:
    """``n`` synthetic images, uint8 (N, H, W) (or (N, C, H, W) for pair generators), from the
    generator at ``source`` (see the module doc); the same seed gives the same images. ``n``
    (at most ``MAX_IMAGES``) and ``device`` are checked before the generator is loaded."""
    check_count(n)
    resolve_device(device)
    generator = source if isinstance(source, Generator) else load_generator(source)
    return generator.sample(
        n, seed, truncation_psi=truncation_psi, batch_size=batch_size, device=device
    )


def _from_file(path: Path) -> Generator:
    """A bare ``generator.pt`` (its spec beside it) or a training checkpoint."""
    content = load_weights(path)
    if "gan_name" not in content:
        if (path.parent / SPEC).is_file():
            spec = json.loads((path.parent / SPEC).read_text(encoding="utf-8"))
            check_pair(content, spec, path.parent)
            return Generator(content, spec, origin={"source": "folder"})
        raise UserError(f"{path}: neither a training checkpoint nor a {WEIGHTS} with its {SPEC}")
    model, arch = content.get("model") or {}, content["gan_name"]
    if "resolution" not in model:
        raise UserError(
            f"{path}: this checkpoint does not record the resolution (written by an older "
            f"version); sample from the model folder data/06_models/{arch}/ instead"
        )
    spec = {
        "architecture": arch,
        "options": {k: model[k] for k in architecture_options(arch) if k in model},
        "resolution": int(model["resolution"]),
        "channels": int(model.get("channels", 1)),
        "latent_dim": int(model["latent_dim"]),
        "epochs": int(content["epoch"]),
    }
    best, ema = (content.get("best") or {}).get("generator"), content.get("ema")
    if best:
        weights, which = best, f"best (epoch {content['best']['epoch']})"
    elif ema:
        weights = {k.removeprefix("module."): v for k, v in ema.items() if k.startswith("module.")}
        which = "ema"
    else:
        weights, which = content["generator"], "generator"
    return Generator(weights, spec, origin={"source": "checkpoint", "weights": which})
