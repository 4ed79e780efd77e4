"""cxr-synth: synthetic chest X-rays from NIH ChestX-ray14 with a zoo of GANs."""

__version__ = "0.1.0"
