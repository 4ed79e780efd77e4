"""Decoding and resizing of chest X-ray PNGs and lung masks (pure PIL/numpy, no Kedro).

Handles 8- and 16-bit grayscale, RGB/RGBA/palette images and non-square sizes, and a process
pool that streams results into a preallocated array so memory does not grow with the count.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

RESAMPLING = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
}
SQUARE_MODES = ("center_crop", "pad", "stretch")
HIGH_BIT_SCALING = ("min_max", "full_range")
# A lung mask's outline: boundary² / (4π·area), 1.6 for a pixel disk, 3.6-6.5 for every real
# Montgomery and Shenzhen mask and 4.2-5.0 for the demo's; binary noise scores 100s to 100,000s.
MAX_OUTLINE = 20.0


class ImageRejected(ValueError):
    """An input that decodes but is not usable (too small, not a plausible mask): a counted
    reject whose message is the reason."""


@dataclass(frozen=True)
class ResizeSpec:
    """How every image becomes a square ``resolution`` x ``resolution`` uint8 array."""

    resolution: int = 128
    square: str = "center_crop"  # center_crop | pad | stretch
    resample: str = "lanczos"
    high_bit_scaling: str = "min_max"  # 16-bit input: per-image min-max, or divide by 65535
    min_size: int = 1  # px; a smaller input (either side) is an ImageRejected

    def __post_init__(self) -> None:
        if self.square not in SQUARE_MODES:
            raise ValueError(f"square must be one of {SQUARE_MODES}, not {self.square!r}")
        if self.resample not in RESAMPLING:
            raise ValueError(f"resample must be one of {tuple(RESAMPLING)}, not {self.resample!r}")
        if self.high_bit_scaling not in HIGH_BIT_SCALING:
            raise ValueError(
                f"high_bit_scaling must be one of {HIGH_BIT_SCALING}, not {self.high_bit_scaling!r}"
            )
        if not 8 <= self.resolution <= 4096:
            raise ValueError(f"resolution must be between 8 and 4096, not {self.resolution}")


def to_grayscale(image: Image.Image, high_bit_scaling: str = "min_max") -> Image.Image:
    """Return an 8-bit ``L`` image, or a float ``F`` image in [0, 255] for >8-bit input.

    RGB/RGBA/palette images are converted with ITU-R 601 luma (alpha is ignored). 16-bit
    images keep their precision until after resizing; ``min_max`` stretches each image's own
    range (the usual choice for DICOM-derived PNGs), ``full_range`` divides by 65535.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        if high_bit_scaling == "full_range":
            values = values * (255.0 / 65535.0)
        else:
            low, high = float(values.min()), float(values.max())
            values = (values - low) * (255.0 / (high - low)) if high > low else values * 0.0
        return Image.fromarray(np.clip(values, 0.0, 255.0).astype(np.float32), mode="F")
    if image.mode != "L":
        image = image.convert("L")
    return image


def make_square(image: Image.Image, mode: str) -> Image.Image:
    """Centre-crop or zero-pad a non-square image to a square (``stretch`` leaves it as is)."""
    width, height = image.size
    if width == height or mode == "stretch":
        return image
    side = min(width, height) if mode == "center_crop" else max(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    if mode == "center_crop":
        return image.crop((left, top, left + side, top + side))
    canvas = Image.new(image.mode, (side, side), 0)
    canvas.paste(image, (-left, -top))
    return canvas


def check_size(image: Image.Image, spec: ResizeSpec) -> None:
    if min(image.size) < spec.min_size:
        raise ImageRejected(
            f"image {image.size[0]}x{image.size[1]} px is below the minimum size of "
            f"{spec.min_size} px (preprocessing.min_image_size)"
        )


def prepare_image(image: Image.Image, spec: ResizeSpec) -> np.ndarray:
    """Decoded PNG -> (resolution, resolution) uint8, antialiased."""
    check_size(image, spec)
    gray = make_square(to_grayscale(image, spec.high_bit_scaling), spec.square)
    size = (spec.resolution, spec.resolution)
    resized = gray.resize(size, RESAMPLING[spec.resample], reducing_gap=3.0)
    if resized.mode == "L":  # already uint8 0..255: rint/clip would be the identity
        return np.array(resized, dtype=np.uint8)
    return np.clip(np.rint(np.asarray(resized, dtype=np.float32)), 0, 255).astype(np.uint8)


def prepare_mask(
    masks: Iterable[Image.Image],
    spec: ResizeSpec,
    labels: list[int] | None,
    lung_fraction: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """Union of one or more lung masks -> (resolution, resolution) uint8 in {0, 1}.

    ``labels`` picks the lung labels of a multi-label mask; ``None`` requires binary masks
    (0/1, 0/255 or boolean) and takes every non-zero pixel. Resized by area averaging, then
    thresholded at one half. A mask that is not binary, whose outline is ragged (noise, specks:
    ``_check_outline``) or whose lung share after resizing lies outside ``lung_fraction``, is an
    :class:`ImageRejected` naming the reason.
    """
    merged = None
    for mask in masks:
        values = np.asarray(mask.convert("L") if mask.mode not in ("L", "I", "I;16") else mask)
        if labels:
            lung = np.isin(values, labels)
        else:
            _check_binary(values)
            lung = values > 0
        merged = lung if merged is None else merged | lung
    if merged is None:
        raise ValueError("no mask given")
    _check_outline(merged)
    square = make_square(Image.fromarray(merged.astype(np.float32), mode="F"), spec.square)
    resized = square.resize((spec.resolution, spec.resolution), Image.Resampling.BOX)
    binary = (np.asarray(resized) >= 0.5).astype(np.uint8)
    share, (low, high) = float(binary.mean()), lung_fraction
    if not low <= share <= high:
        raise ImageRejected(
            f"mask: implausible lung fraction {share:.2f} (expected {low:.2f}-{high:.2f}; "
            "preprocessing.segmentation.lung_fraction)"
        )
    return binary


def _check_outline(lung: np.ndarray) -> None:
    """Refuse a mask whose outline is far too long for its area (:data:`MAX_OUTLINE`): noise or
    specks, not lungs, whatever its lung share. Measured at the mask's own resolution."""
    area = int(np.count_nonzero(lung))
    edges = np.count_nonzero(lung[1:] != lung[:-1]) + np.count_nonzero(lung[:, 1:] != lung[:, :-1])
    ratio = edges**2 / (4 * np.pi * max(area, 1))
    if ratio > MAX_OUTLINE:
        raise ImageRejected(
            f"mask: ragged outline (boundary²/4π·area {ratio:.0f}, lung masks < {MAX_OUTLINE:.0f}): "
            "noise or specks, not lungs"
        )


def _check_binary(values: np.ndarray) -> None:
    levels = np.unique(values)
    if not (set(levels.tolist()) <= {0, 1} or set(levels.tolist()) <= {0, 255}):
        shown = levels[:6].tolist() + (["..."] if len(levels) > 6 else [])
        raise ImageRejected(
            f"mask: not binary ({len(levels)} distinct values {shown}); for a multi-label mask "
            "set preprocessing.segmentation.lung_labels"
        )


def worker_count(workers: int | None) -> int:
    """``None`` or ``0``: every core this process may use."""
    if workers:
        return max(1, int(workers))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _apply(job: tuple[Callable[..., Any], int, tuple]) -> tuple[int, Any, str | None]:
    func, index, args = job
    try:
        return index, func(*args), None
    except Exception as error:  # noqa: BLE001 - reported per item by the caller
        return index, None, f"{type(error).__name__}: {error}"


def _worker_signals() -> None:
    """A forked worker dies on SIGTERM, whatever handler its parent set: ``Pool.terminate`` (the
    end of ``with pool``) sends SIGTERM, and a worker that inherited a handler which ignores it
    (submitit's, in ``kedro study run --executor local|slurm`` jobs) would hang the parent."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


# The job list of the running forked pool: children inherit it at fork, so only chunk bounds
# travel to them, not a pickled (function, loader, spec) tuple per image.
_FORKED_JOBS: tuple[Callable[..., Any], list[tuple]] | None = None


def _apply_range(bounds: tuple[int, int]) -> list[tuple[int, Any, str | None]]:
    assert _FORKED_JOBS is not None
    func, arguments = _FORKED_JOBS
    return [_apply((func, index, arguments[index])) for index in range(*bounds)]


def parallel_map(
    func: Callable[..., Any],
    arguments: list[tuple],
    workers: int | None = None,
    description: str = "decoding",
) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(index, func(*arguments[index]), error)`` in order, over a process pool.

    Errors are returned, not raised, so a bad file becomes a counted reject. Results are
    consumed as they arrive: memory holds a few in-flight items, not the whole list.
    """
    jobs = [(func, index, args) for index, args in enumerate(arguments)]
    n_workers = min(worker_count(workers), max(1, len(jobs) // 16))
    progress = tqdm(total=len(jobs), desc=description, unit="img", mininterval=1.0)
    with progress:
        if n_workers == 1:
            results: Iterable = map(_apply, jobs)
            for result in results:
                progress.update()
                yield result
            return
        if sys.platform != "linux":
            context = multiprocessing.get_context("spawn")
            with context.Pool(n_workers) as pool:
                for result in pool.imap(_apply, jobs, chunksize=16):
                    progress.update()
                    yield result
            return
        global _FORKED_JOBS
        if _FORKED_JOBS is not None:
            raise RuntimeError("parallel_map: a forked pool is already running in this process")
        _FORKED_JOBS = (func, arguments)
        try:
            pool = multiprocessing.get_context("fork").Pool(n_workers, _worker_signals)
        finally:
            _FORKED_JOBS = None  # the children have their copy; the parent needs none
        chunks = [(start, min(start + 16, len(jobs))) for start in range(0, len(jobs), 16)]
        with pool:
            for results in pool.imap(_apply_range, chunks):
                progress.update(len(results))
                yield from results
