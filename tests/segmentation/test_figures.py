import math

import numpy as np
import pandas as pd

from cxr_synth.segmentation import dice_figure, study_dice_figure


def points(axis) -> list[float]:
    """The y of every error-bar point of a panel, left to right."""
    return [float(line.get_ydata()[0]) for line in axis.lines if line.get_marker() in ("s", "o")]


def test_one_point_per_method_with_baselines_as_squares_and_the_none_line():
    summary = pd.DataFrame({"label": ["none", "classic", "dcgan"], "method": ["none", "classic", "dcgan"],
                            "dice_mean": [0.80, 0.85, 0.82], "dice_std": [0.01, math.nan, 0.02]})  # fmt: skip
    (axis,) = dice_figure({"test": summary}).axes
    assert points(axis) == [0.80, 0.85, 0.82]
    assert [line.get_marker() for line in axis.lines if line.get_marker() in ("s", "o")] == [
        "s", "s", "o"
    ]  # fmt: skip
    dashed = [line for line in axis.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and np.allclose(dashed[0].get_ydata(), 0.80)
    assert [t.get_text() for t in axis.get_xticklabels()] == ["none", "classic", "dcgan"]
    low, high = axis.get_ylim()
    assert low <= 0.79 - 0.02 + 1e-9 and high >= 0.84  # zoomed to the data and its bars


def test_a_study_has_a_panel_per_test_set_and_variant_method_labels():
    table = pd.DataFrame({
        "variant": ["raw", "raw", "clahe", "raw"], "test_set": ["in", "in", "in", "ext"],
        "method": ["none", "classic", "classic", "none"],
        "dice_mean": [0.9, 0.92, 0.93, 0.8], "dice_std": [0.01, 0.01, 0.02, 0.03],
    })  # fmt: skip
    figure = study_dice_figure(table)
    inside, external = figure.axes
    assert inside.get_title().startswith("in:") and external.get_title().startswith("ext:")
    assert [t.get_text() for t in inside.get_xticklabels()] == [
        "raw/none", "raw/classic", "clahe/classic"
    ]  # fmt: skip
    assert points(inside) == [0.9, 0.92, 0.93] and points(external) == [0.8]
    empty = study_dice_figure(table.iloc[:0])
    assert not empty.axes and "No segmentation results" in empty.texts[0].get_text()
