"""Which process this is under ``torchrun``: asked here, and only here, from its environment."""

from __future__ import annotations

import os


def distributed_rank() -> int:
    """This process's rank under ``torchrun`` (0 when not distributed)."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's rank on its machine under ``torchrun`` (0 when not distributed)."""
    return int(os.environ.get("LOCAL_RANK", "0"))
