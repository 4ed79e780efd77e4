"""Many PNGs decoded over all cores straight into preallocated uint8 arrays; a file that cannot
be decoded (or is not usable: too small, an implausible mask) becomes a reject with its reason.
Kedro-free; the preprocessing nodes call these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from cxr_synth.data.imaging import ImageRejected, ResizeSpec, parallel_map, prepare_image

Loader = Callable[[], Image.Image]
REJECT_COLUMNS = ["item", "stage", "reason"]


def reject_reason(error: str, unusable: str) -> str:
    """A reject reason: the check's own message, or ``unusable`` + the decoding error."""
    prefix = f"{ImageRejected.__name__}: "
    return error.removeprefix(prefix) if error.startswith(prefix) else f"{unusable}: {error}"


def rejects_frame(rejects: Sequence[tuple[str, str, str]]) -> pd.DataFrame:
    """``(item, stage, reason)`` rows as the rejects table."""
    return pd.DataFrame(list(rejects), columns=REJECT_COLUMNS)


def decode_into(
    arrays: Sequence[np.ndarray],
    decode: Callable[..., Any],
    jobs: list[tuple],
    workers: int | None,
    description: str,
    unusable: str,
) -> tuple[list[int], list[tuple[int, str]]]:
    """``decode(*job)`` for every job (``parallel_map``), each result (one array, or a tuple of
    one per array in ``arrays``) written to the next free row of ``arrays``.

    Returns the jobs kept, in row order, and ``(job, reason)`` of the others.
    """
    kept: list[int] = []
    failed: list[tuple[int, str]] = []
    for index, result, error in parallel_map(decode, jobs, workers, description):
        if error is None:
            for array, part in zip(arrays, result if len(arrays) > 1 else (result,), strict=True):
                array[len(kept)] = part
            kept.append(index)
        else:
            failed.append((index, reject_reason(error, unusable)))
    return kept, failed


def _decode_image(loader: Loader, spec: ResizeSpec) -> np.ndarray:
    return prepare_image(loader(), spec)


def decode_images(
    loaders: Sequence[Loader], spec: ResizeSpec, workers: int | None, description: str
) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
    """Every image into one (N, R, R) uint8 array (``spec``): the array of those decoded, which
    of ``loaders`` they are (in array order), and ``(loader, reason)`` of the others."""
    array = np.empty((len(loaders), spec.resolution, spec.resolution), dtype=np.uint8)
    jobs = [(loader, spec) for loader in loaders]
    kept, failed = decode_into((array,), _decode_image, jobs, workers, description,
                               "unreadable image")  # fmt: skip
    return array[: len(kept)], kept, failed
