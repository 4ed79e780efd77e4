"""Packages whose names load on first use (PEP 562), so that importing one stays light.

``cxr_synth.models``, ``.segmentation``, ``.metrics`` and ``.training`` re-export their
submodules' names, most of which import torch; the pipelines and the parameter models read only
light ones (architecture names, configs), so each submodule is imported when one of its names is
first read (``kedro registry list`` imports no torch: docs/performance.md, issue #16).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[list[str], Callable[[str], Any]]:
    """``__all__`` and the module ``__getattr__`` of ``package``, whose submodule ``m`` holds the
    names ``exports[m]``."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{where[name]}"), name)

    return sorted(where), __getattr__
