"""Atomic file writes: a kill at any moment leaves the old file or the new one, never a torn one.

Every write goes to a temp file in the target's folder (same file system, so the final
``os.replace`` is atomic), is flushed and fsynced, then renamed over the target; the folder is
fsynced so the rename itself survives a power cut. An exception discards the temp file. A
SIGKILL cannot run cleanup, so temp files carry a recognisable name (``.<name>.<random>.tmp``)
that :func:`remove_stale_temp_files` finds later.

Used by checkpoints, the project's own Kedro datasets, downloads and, through
:class:`AtomicLocalFileSystem`, every file-based dataset of kedro-datasets.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from fsspec.implementations.local import LocalFileSystem

logger = logging.getLogger(__name__)

TEMP_PATTERN = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")


def _temp_file(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # mkstemp creates 0600; a finished output gets the permissions any new file would get.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return fd, name


def _commit(handle: IO[Any], temp: str, path: Path) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.replace(temp, path)
    fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """``with atomic_write(p) as f: f.write(...)``: ``p`` appears complete or not at all."""
    if not set(mode) & {"w", "x"} or "+" in mode:
        raise ValueError(f"atomic_write writes whole files; mode {mode!r} is not a write mode")
    path = Path(path)
    fd, temp = _temp_file(path)
    try:
        with os.fdopen(fd, mode.replace("x", "w"), **open_kwargs) as handle:
            yield handle
            _commit(handle, temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable (no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temp_files(root: str | os.PathLike) -> list[Path]:
    """Delete the temp files that killed writes left below ``root``; returns what was removed.

    Call it only while no other process writes below ``root`` (the project lock guarantees it).
    """
    root = Path(root)
    if not root.is_dir():
        return []
    removed = []
    for directory, _, files in os.walk(root):
        for name in files:
            if TEMP_PATTERN.match(name):
                path = Path(directory) / name
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    if removed:
        logger.info("removed %d temp file(s) left by interrupted writes", len(removed))
    return removed


class _AtomicFile:
    """A binary file object that commits on ``close()`` and discards on an exception in ``with``."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        fd, self._temp = _temp_file(self._path)
        self._file = os.fdopen(fd, "wb")
        self._done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> _AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def __iter__(self):
        return iter(self._file)

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            _commit(self._file, self._temp, self._path)
        except BaseException:
            self._discard_temp()
            raise

    def discard(self) -> None:
        """Drop what was written; the target keeps its previous content."""
        if not self._done:
            self._done = True
            self._discard_temp()

    def _discard_temp(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            os.unlink(self._temp)


class _AtomicText(io.TextIOWrapper):
    """Text mode over :class:`_AtomicFile`: an exception inside ``with`` discards the write."""

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.buffer.discard()


class AtomicLocalFileSystem(LocalFileSystem):
    """fsspec's local file system whose whole-file writes are atomic (see module doc).

    Registered for the ``file`` protocol by ``settings.py`` (:func:`install`), so every Kedro
    dataset that writes through fsspec — pandas, JSON, text, pillow, matplotlib, PyTorch —
    gets atomic saves without a change to the catalog. Appends and reads are unchanged.
    """

    def open(self, path, mode="rb", block_size=None, cache_options=None, compression=None, **kwargs):
        if "w" not in mode or "+" in mode or compression:
            return super().open(path, mode, block_size, cache_options, compression, **kwargs)
        path = self._strip_protocol(path)
        binary = _AtomicFile(path)
        if "b" in mode:
            return binary
        text_kwargs = {k: kwargs[k] for k in ("encoding", "errors", "newline") if k in kwargs}
        return _AtomicText(binary, **text_kwargs)  # type: ignore[arg-type]


def install() -> None:
    """Make ``fsspec.filesystem("file")`` (what kedro-datasets uses) write atomically."""
    import fsspec

    fsspec.register_implementation("file", AtomicLocalFileSystem, clobber=True)
    fsspec.register_implementation("local", AtomicLocalFileSystem, clobber=True)
