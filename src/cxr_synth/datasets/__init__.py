"""Kedro datasets this project had to write, and the torch Datasets the training code shares."""

from cxr_synth.datasets.mlflow_study import MlflowStudyDataset, MlflowStudyFilesDataset
from cxr_synth.datasets.mlflow_table import MlflowTableDataset
from cxr_synth.datasets.npy_array import NpyArrayDataset, NpzDataset
from cxr_synth.datasets.optional import OptionalDataset
from cxr_synth.datasets.raw import ImageFolderDataset, MetadataCSVDataset
from cxr_synth.datasets.state_dicts import StateDictsDataset

__all__ = [
    "ImageFolderDataset",
    "MetadataCSVDataset",
    "MlflowStudyDataset",
    "MlflowStudyFilesDataset",
    "MlflowTableDataset",
    "NpyArrayDataset",
    "NpzDataset",
    "OptionalDataset",
    "StateDictsDataset",
]
