"""cxr-synth: synthetic chest X-rays from NIH ChestX-ray14 with a zoo of GANs.

``cxr_synth.generate(source, n, seed=0)`` samples a trained generator (``cxr_synth.sharing``).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "generate"]


def __getattr__(name: str) -> Any:
    """``generate`` on first use: importing the package stays light (no torch)."""
    if name == "generate":
        from cxr_synth.sharing.sources import generate

        return generate
    raise AttributeError(f"module 'cxr_synth' has no attribute {name!r}")
