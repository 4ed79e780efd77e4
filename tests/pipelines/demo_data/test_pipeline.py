"""The demo_data pipeline end to end: in memory, and through the real datasets on disk."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.partitions import PartitionedDataset
from kedro_datasets.text import TextDataset

from cxr_synth.datasets import OptionalDataset
from cxr_synth.pipelines.demo_data import create_pipeline
from cxr_synth.pipelines.demo_data.nodes import make_nih_metadata
from cxr_synth.pipelines.demo_data.params import DemoDataParams
from tests.conftest import shared_data
from tests.pipelines.demo_data.test_nodes import RAW

OUTPUTS = ["nih_metadata", "nih_train_val_list", "nih_test_list", "nih_images", "seg_raw"]
# What pandas reads from the real 2017 Data_Entry file: the split bracketed headers and an
# unnamed, empty last column from the trailing comma on every line.
NIH_2017_READ_COLUMNS = [
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
    "OriginalImage[Width",
    "Height]",
    "OriginalImagePixelSpacing[x",
    "y]",
    "Unnamed: 11",
]


def small_params():
    params = copy.deepcopy(RAW)
    params["nih"]["n_patients"] = 5
    params["seg"]["n_images"] = 2
    return DemoDataParams.parse(params)


def test_pipeline_wires_the_raw_catalog_entries():
    pipeline = create_pipeline()
    assert pipeline.inputs() == {"params:demo_data"}
    assert pipeline.all_outputs() == set(OUTPUTS)


def test_pipeline_runs_in_memory():
    params = small_params()
    catalog = DataCatalog({"params:demo_data": MemoryDataset(params)})
    outputs = {
        name: ds.load() for name, ds in SequentialRunner().run(create_pipeline(), catalog).items()
    }
    assert set(outputs) == set(OUTPUTS) - {"nih_metadata"}  # consumed inside the run
    metadata = make_nih_metadata(params)
    listed = outputs["nih_train_val_list"].split() + outputs["nih_test_list"].split()
    assert sorted(listed) == sorted(metadata["Image Index"])
    assert len(outputs["nih_images"]) == len(metadata)
    assert all(callable(draw) for draw in outputs["nih_images"].values())
    assert len(outputs["seg_raw"]) == 3 * 2


def on_disk_catalog(root) -> DataCatalog:
    """The raw entries of conf/base/catalog.yml, rooted at ``root``."""
    nih, seg = root / "01_raw" / "nih", root / "01_raw" / "seg" / "montgomery"
    return DataCatalog(
        {
            "params:demo_data": MemoryDataset(small_params()),
            "nih_metadata": CSVDataset(filepath=str(nih / "Data_Entry_2017.csv")),
            "nih_train_val_list": OptionalDataset(
                {"type": "text.TextDataset", "filepath": str(nih / "train_val_list.txt")}
            ),
            "nih_test_list": OptionalDataset(
                {"type": "text.TextDataset", "filepath": str(nih / "test_list.txt")}
            ),
            "nih_images": PartitionedDataset(
                path=str(nih), dataset="pillow.ImageDataset", filename_suffix=".png"
            ),
            "seg_raw": PartitionedDataset(
                path=str(seg), dataset="pillow.ImageDataset", filename_suffix=".png"
            ),
        }
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    SequentialRunner().run(create_pipeline(), on_disk_catalog(root))
    return root


def test_metadata_csv_reads_back_like_the_real_2017_file(written):
    path = written / "01_raw" / "nih" / "Data_Entry_2017.csv"
    header = path.read_text().splitlines()[0]
    assert header == (
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
        "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
    )
    frame = pd.read_csv(path)
    assert list(frame.columns) == NIH_2017_READ_COLUMNS
    assert frame["Unnamed: 11"].isna().all()
    assert frame["Image Index"].str.fullmatch(r"\d{8}_\d{3}\.png").all()
    assert frame["Patient ID"].dtype.kind == "i" and frame["Patient Age"].dtype.kind == "i"


def test_metadata_columns_match_the_official_file():
    official = pd.read_csv(shared_data("nih", "Data_Entry_2017_v2020.csv.gz"), nrows=5)
    assert list(official.columns) == NIH_2017_READ_COLUMNS[:-1]


def test_files_land_in_the_nih_and_montgomery_layouts(written):
    nih = written / "01_raw" / "nih"
    frame = pd.read_csv(nih / "Data_Entry_2017.csv")
    pngs = sorted(p.relative_to(nih).as_posix() for p in nih.rglob("*.png"))
    assert sorted(p.rsplit("/", 1)[1] for p in pngs) == sorted(frame["Image Index"])
    assert {p.rsplit("/", 1)[0] for p in pngs} == {"images_001/images", "images_002/images"}
    listed = (nih / "train_val_list.txt").read_text() + (nih / "test_list.txt").read_text()
    assert sorted(listed.splitlines()) == sorted(frame["Image Index"])

    seg = written / "01_raw" / "seg" / "montgomery"
    files = sorted(p.relative_to(seg).as_posix() for p in seg.rglob("*.png"))
    cases = [p.rsplit("/", 1)[1] for p in files if p.startswith("CXR_png/")]
    assert len(cases) == 2
    assert files == sorted(
        f"{folder}/{case}"
        for case in cases
        for folder in ("CXR_png", "ManualMask/leftMask", "ManualMask/rightMask")
    )


def test_written_partitions_load_back(written):
    catalog = on_disk_catalog(written)
    images = catalog.load("nih_images")
    image = next(iter(images.values()))()
    assert image.mode == "L" and image.size == (64, 64)
    masks = {k: v() for k, v in catalog.load("seg_raw").items() if k.startswith("ManualMask/")}
    assert all(set(np.unique(np.asarray(m))) == {0, 255} for m in masks.values())
    assert isinstance(catalog.load("nih_test_list"), str)


def test_text_lists_are_newline_terminated(written):
    text = TextDataset(filepath=str(written / "01_raw" / "nih" / "test_list.txt")).load()
    assert text.endswith(".png\n") and "\n\n" not in text
