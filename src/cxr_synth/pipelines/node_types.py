"""The heavy types in node signatures: real for readers and type checkers, ``Any`` at run time.

Building the pipelines imports every ``nodes.py``; torch, matplotlib and mlflow load inside the
nodes that use them (``kedro registry list`` and a light ``kedro run`` import none of them,
docs/performance.md). Kedro evaluates node annotations to find the parameter models, so these
names must exist without those imports; it reads only the ``params:`` types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import Tensor
    from torch.nn import Module

    from cxr_synth.sharing.generator import Generator
    from cxr_synth.sharing.pyfunc import ModelRelease
else:
    Figure = Generator = ModelRelease = Module = Tensor = Any

__all__ = ["Figure", "Generator", "ModelRelease", "Module", "Tensor"]
