"""One ``kedro run`` at a time per project: an advisory lock on the project's data folder.

Two runs writing the same outputs would read each other's half-finished files. The lock is an
``flock`` on ``data/.kedro_run.lock``: the kernel releases it when the holder exits, however it
exits, so a lock left by a killed run is never stale (the next run notes it and takes over).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from cxr_synth.runtime.errors import UserError

logger = logging.getLogger(__name__)

LOCK_NAME = ".kedro_run.lock"


class ProjectLocked(UserError):
    """Another run holds the project's lock."""


class ProjectLock:
    """``acquire()`` or raise :class:`ProjectLocked` at once; ``release()`` (idempotent)."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, description: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise ProjectLocked(
                f"Another kedro run is using {self.path.parent} ({_describe(holder)}). Wait for "
                "it to finish, or run in a separate copy of the project; two runs would "
                "overwrite each other's outputs."
            ) from None
        previous = _read_holder(fd)
        if previous.get("pid") and not _alive(int(previous["pid"])):
            logger.info("lock of an earlier run (pid %s) that ended abruptly: taken over",
                        previous["pid"])
        record = {"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "run": description}  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "holder unknown"
    return f"pid {holder.get('pid')}, started {holder.get('started')}, {holder.get('run')}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
