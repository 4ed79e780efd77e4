"""The shared table helpers: MLflow metric records, Markdown cells, Dice into the comparison."""

import math

import pandas as pd
import pytest

from cxr_synth.data.tables import add_dice, interval, markdown_table, mean_std, metric_records


def test_metric_records_leave_out_missing_and_non_finite_values():
    records = metric_records({"a": 1, "b": None, "c": math.nan, "d": math.inf, "e": 0.5})
    assert records == {"a": {"value": 1.0, "step": 0}, "e": {"value": 0.5, "step": 0}}


def test_markdown_cells():
    frame = pd.DataFrame({"name": ["x", "y"], "value": [0.123456, math.nan]})
    assert markdown_table(frame).splitlines() == [
        "| name | value |",
        "|---|---|",
        "| x | 0.1235 |",
        "| y |  |",
    ]
    assert mean_std(0.86123, 0.017) == "0.8612 ± 0.0170"
    assert mean_std(0.5, math.nan) == "0.5000 ± n/a"


def test_add_dice_puts_the_std_next_to_the_mean():
    comparison = pd.DataFrame({"architecture": ["dcgan", "lsgan"], "dice": [math.nan] * 2,
                               "train_hours": [0.1, 0.2]})  # fmt: skip
    summary = pd.DataFrame({"method": ["none", "dcgan"], "dice_mean": [0.7, 0.8],
                            "dice_std": [0.01, 0.02]})  # fmt: skip
    table = add_dice(comparison, summary)
    assert list(table.columns) == ["architecture", "dice", "dice_std", "train_hours"]
    assert table["dice"].tolist()[0] == pytest.approx(0.8) and math.isnan(table["dice"][1])
    assert comparison["dice"].isna().all()  # the input is not changed


def test_interval_cells():
    assert interval(-0.012, 0.031) == "[-0.0120, +0.0310]"
    assert interval(math.nan, math.nan) == ""
