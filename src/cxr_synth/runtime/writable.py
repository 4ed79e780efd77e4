"""Before a run: the folders its outputs go to are writable, so a read-only ``data/`` or
``08_reporting/`` stops the run at once instead of after hours of training."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cxr_synth.runtime.errors import DISK_FIXES, UserError


def local_path(dataset: Any) -> Path | None:
    """The local file or folder a Kedro dataset writes (through wrappers such as
    ``OptionalDataset``); None for in-memory, MLflow-only and remote datasets. Kedro makes the
    catalog's paths absolute (under the project); a relative one is no local output."""
    dataset = getattr(dataset, "_dataset", dataset)
    path = getattr(dataset, "_filepath", None) or getattr(dataset, "_path", None)
    if path is None or getattr(dataset, "_protocol", "file") not in ("file", "local", None):
        return None
    return Path(path) if Path(path).is_absolute() else None


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (what a ``mkdir -p`` would write into)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(outputs: Iterable[tuple[str, Path]]) -> None:
    """Refuse the run if the nearest existing folder of any output is not writable."""
    for name, path in outputs:
        folder = nearest_existing(path if path.is_dir() else path.parent)
        if not os.access(folder, os.W_OK):
            raise UserError(
                f"{name} is saved in {path}, but {folder} is not writable: nothing was run; "
                f"{DISK_FIXES[errno.EACCES]}"
            )
