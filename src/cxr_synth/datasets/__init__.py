"""Kedro datasets this project had to write, and the torch Datasets the training code shares."""

from cxr_synth.datasets.npy_array import NpyArrayDataset, NpzDataset
from cxr_synth.datasets.optional import OptionalDataset

__all__ = ["NpyArrayDataset", "NpzDataset", "OptionalDataset"]
