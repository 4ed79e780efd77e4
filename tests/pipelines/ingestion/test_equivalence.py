"""The faster ingestion checks give the same outputs as the reference (reference_nodes.py):
valid table (values, dtypes, index), rejects (lines, reasons), counts, warnings and errors."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from cxr_synth.pipelines.demo_data.nodes import make_nih_metadata
from cxr_synth.pipelines.demo_data.params import DemoDataParams
from cxr_synth.pipelines.ingestion import nodes
from cxr_synth.pipelines.ingestion.params import IngestionParams
from tests.conftest import shared_data
from tests.pipelines.ingestion import reference_nodes as reference


def clean(n_patients: int = 400) -> pd.DataFrame:
    return make_nih_metadata(DemoDataParams.parse({"nih": {"n_patients": n_patients}}))


def messy() -> pd.DataFrame:
    """Every kind of bad and odd value the checks know, in object columns."""
    frame = clean(60).astype(object)
    edits = {
        "Image Index": {
            1: " 00000001_009.png ", 2: "x.PNG", 3: "notes.txt", 4: np.nan, 5: "",
            6: frame.loc[0, "Image Index"], 7: frame.loc[3, "Image Index"],  # dup of a bad row
            8: " " + frame.loc[9, "Image Index"], 10: "\tlast.png\n", 11: ".png",
        },
        "Finding Labels": {12: "", 13: "   ", 14: np.nan, 15: " No Finding", 16: "no finding",
                           17: "No  Finding", 18: "NO FINDING "},
        "Follow-up #": {19: "1.5", 20: "two", 21: np.nan, 22: " 3 ", 23: 4.0},
        "Patient ID": {24: "12", 25: "1.5", 26: np.nan, 27: "abc", 28: -3},
        "Patient Age": {29: "058Y", 30: "006M", 31: "010D", 32: "old", 33: 150, 34: -1,
                        35: np.nan, 36: " 45 ", 37: "131", 38: "130", 39: "58y"},
        "Patient Gender": {40: "m", 41: " F ", 42: "X", 43: np.nan, 44: ""},
        "View Position": {45: "pa", 46: " AP", 47: "LL", 48: np.nan, 49: "Pa "},
        "OriginalImage[Width": {50: "wide", 51: np.nan},
        "OriginalImagePixelSpacing[x": {52: "0.1", 53: "n/a"},
    }  # fmt: skip
    for column, values in edits.items():
        for row, value in values.items():
            frame.loc[row, column] = value
    return frame


def via_csv(frame: pd.DataFrame, tmp_path) -> pd.DataFrame:
    path = tmp_path / "Data_Entry_2017.csv"
    frame.to_csv(path, index=False)
    return pd.read_csv(path)


def with_trailing_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{"Unnamed: 11": np.nan})


CASES = {
    "clean": lambda tmp: clean(),
    "clean, read from CSV with the 2017 trailing column": lambda tmp: via_csv(
        with_trailing_column(clean()), tmp
    ),
    "messy": lambda tmp: messy(),
    "messy, read from CSV": lambda tmp: via_csv(messy(), tmp),
    "messy, shuffled index": lambda tmp: messy().sample(frac=1.0, random_state=0),
    "messy, index from 1000": lambda tmp: messy().set_axis(np.arange(1000, 1000 + len(messy()))),
    "every row bad": lambda tmp: messy().assign(**{"Patient Gender": "X"}),
    "padded header names": lambda tmp: clean(20).rename(columns=lambda c: f" {c} "),
    "the real NIH file (v2020)": lambda tmp: pd.read_csv(
        shared_data("nih", "Data_Entry_2017_v2020.csv.gz")
    ),
}


def outputs(module, frame: pd.DataFrame, caplog) -> tuple:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        valid, rejects = module.validate_metadata(frame.copy())
    return valid, rejects, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("case", CASES)
def test_validate_metadata_matches_the_reference(case, tmp_path, caplog):
    frame = CASES[case](tmp_path)
    valid, rejects, logs = outputs(nodes, frame, caplog)
    ref_valid, ref_rejects, ref_logs = outputs(reference, frame, caplog)
    pd.testing.assert_frame_equal(valid, ref_valid, check_exact=True)
    pd.testing.assert_frame_equal(rejects, ref_rejects, check_exact=True)
    assert logs == ref_logs
    if case.startswith("messy"):
        assert len(rejects) >= 20 and len(valid) > 0  # the case exercises both outcomes


FILTERS = [
    {},
    {"view_positions": ["PA"], "genders": ["F"], "age_range": [20, 60]},
    {"finding_labels": ["No Finding", "Effusion"], "accept_label_variants": True},
    {"finding_labels": ["No Finding"], "accept_label_variants": False},
    {"finding_labels": ["no such label"]},  # an error, named after the filter
    {"age_range": [129, 130]},
    {"genders": ["M"], "view_positions": ["AP"], "age_range": [0, 1]},
]


def filtered(module, valid: pd.DataFrame, params: IngestionParams, caplog) -> tuple:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        try:
            result = module.filter_rows(valid.copy(), params)
        except ValueError as error:
            result = ("error", str(error))
    return result, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("case", ["clean", "messy"])
@pytest.mark.parametrize("changes", FILTERS)
def test_filter_rows_matches_the_reference(case, changes, tmp_path, caplog):
    valid, _ = reference.validate_metadata(CASES[case](tmp_path))
    params = IngestionParams.parse(changes)
    (result, logs), (ref_result, ref_logs) = (
        filtered(module, valid, params, caplog) for module in (nodes, reference)
    )
    assert logs == ref_logs
    if isinstance(ref_result[0], str):  # ("error", message)
        assert result == ref_result
        return
    pd.testing.assert_frame_equal(result[0], ref_result[0], check_exact=True)
    assert result[1] == ref_result[1]
    assert [type(v) for v in result[1].values()] == [type(v) for v in ref_result[1].values()]
