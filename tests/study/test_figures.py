"""cxr_synth.study.figures on hand-made seed tables and curves (no Kedro, no MLflow)."""

import math

import numpy as np
import pandas as pd
import pytest

from cxr_synth.runtime.errors import UserError
from cxr_synth.study.figures import (
    group_keys,
    group_labels,
    group_order,
    learning_curve_figure,
    resolve_metric,
    seed_bar_figure,
)

# (architecture, metric) -> (mean, std, n_seeds)
STATS = {("dcgan", "FD_rand"): (2.0, 0.5, 2), ("dcgan", "precision_rand"): (0.6, 0.1, 2),
         ("lsgan", "FD_rand"): (3.0, math.nan, 1), ("lsgan", "precision_rand"): (0.4, 0.2, 2)}  # fmt: skip
SEEDS = {("dcgan", 0): 1.5, ("dcgan", 1): 2.5, ("lsgan", 0): 3.0}  # FD_rand of each seed


def seed_table(variants: tuple[str, ...] = ()) -> pd.DataFrame:
    rows = [
        {"architecture": arch, "metric": metric, "mean": mean, "std": std, "n_seeds": n}
        for (arch, metric), (mean, std, n) in STATS.items()
    ]
    if not variants:
        return pd.DataFrame(rows)
    return pd.DataFrame([{"variant": v, **row} for v in variants for row in rows])


def seed_rows() -> pd.DataFrame:
    return pd.DataFrame(
        [{"architecture": a, "seed": s, "FD_rand": v} for (a, s), v in SEEDS.items()]
    )


def curves() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "architecture": ["dcgan", "dcgan", "lsgan", "lsgan"],
            "step": [10, 20, 10, 20],
            "epoch": [1, 2, 1, 2],
            "n_seeds": [2, 2, 1, 1],
            "fd_mean": [9.0, 5.0, 8.0, 6.0],
            "fd_std": [1.0, 0.5, math.nan, math.nan],
            "wall_clock_s_mean": [30.0, 60.0, 40.0, 80.0],
            "wall_clock_s_std": [2.0, 3.0, math.nan, math.nan],
        }
    )


def test_resolve_metric_finds_the_offline_backbone_columns():
    columns = ["FD_rand", "KID_rand_mean", "precision_rand", "ssim_nn_mean"]
    assert resolve_metric("FID", columns) == "FD_rand"
    assert resolve_metric("KID_mean", columns) == "KID_rand_mean"
    assert resolve_metric("precision", columns) == "precision_rand"
    assert resolve_metric("ssim_nn_mean", columns) == "ssim_nn_mean"
    assert resolve_metric("recall", columns) is None
    assert resolve_metric("FID", ["FID", "FD_rand"]) == "FID"


def test_groups_are_the_architectures_or_the_variants_in_table_order():
    assert group_keys(seed_table()) == ["architecture"]
    assert group_labels(seed_table()) == {("dcgan",): "dcgan", ("lsgan",): "lsgan"}
    table = seed_table(("sn", "base"))
    assert group_keys(table) == ["variant", "architecture"]
    assert group_order(table) == [("sn", "dcgan"), ("sn", "lsgan"), ("base", "dcgan"),
                                  ("base", "lsgan")]  # fmt: skip
    assert list(group_labels(table).values()) == ["sn/dcgan", "sn/lsgan", "base/dcgan",
                                                  "base/lsgan"]  # fmt: skip
    one = table[table["architecture"] == "dcgan"]
    assert list(group_labels(one).values()) == ["sn", "base"]


def test_learning_curve_figure_has_one_curve_and_band_per_group_and_final_points():
    figure = learning_curve_figure(curves(), seed_table())
    steps, wall_clock, precision_steps = figure.axes[0], figure.axes[1], figure.axes[2]
    assert len(figure.axes) == 6
    assert [line.get_label() for line in steps.get_lines()] == ["dcgan", "lsgan"]
    np.testing.assert_allclose(steps.get_lines()[0].get_xdata(), [10, 20])
    np.testing.assert_allclose(steps.get_lines()[1].get_ydata(), [8.0, 6.0])
    np.testing.assert_allclose(wall_clock.get_lines()[0].get_xdata(), [30.0, 60.0])
    assert len(steps.collections) == 2  # one ±std band per group
    assert steps.get_title() == "FD vs steps (mean ± std, 2 seeds)"
    assert wall_clock.get_xlabel() == "training wall-clock (s)"
    assert precision_steps.get_title() == "precision_rand, final evaluation only"
    points = [line.get_ydata()[0] for line in precision_steps.get_lines() if line.get_marker() == "o"]
    assert points == pytest.approx([0.6, 0.4])  # at each group's last step
    assert figure.axes[4].get_title() == "recall, final evaluation only"
    assert not figure.axes[4].has_data()  # no recall column in the seed table
    assert not figure.texts


def test_learning_curves_over_five_minutes_are_drawn_in_minutes():
    slow = curves().assign(wall_clock_s_mean=lambda c: c["wall_clock_s_mean"] * 10)
    wall_clock = learning_curve_figure(slow, seed_table()).axes[1]
    assert wall_clock.get_xlabel() == "training wall-clock (min)"
    np.testing.assert_allclose(wall_clock.get_lines()[1].get_xdata(), [400 / 60, 800 / 60])


def test_bars_are_the_means_with_std_error_bars_and_each_seeds_dot():
    figure = seed_bar_figure(seed_table(), seed_rows(), ["FID", "recall"])
    assert len(figure.axes) == 1  # recall is not in the seed table
    axis = figure.axes[0]
    assert axis.get_title() == "FD_rand (mean ± std, 2 seeds)"
    assert [patch.get_height() for patch in axis.patches] == pytest.approx([2.0, 3.0])
    assert [t.get_text() for t in axis.get_xticklabels()] == ["dcgan", "lsgan"]
    dots = [line for line in axis.get_lines() if line.get_marker() == "."]
    assert [list(d.get_ydata()) for d in dots] == [[1.5, 2.5], [3.0]]
    assert [list(d.get_xdata()) for d in dots] == [[0, 0], [1]]


def test_bars_without_any_known_metric_name_the_parameter():
    with pytest.raises(UserError, match=r"bar_metrics \['nope'\]: none is a column"):
        seed_bar_figure(seed_table(), seed_rows(), ["nope"])


def test_empty_inputs_give_a_figure_that_says_why():
    empty_table = seed_table().iloc[0:0]
    bars = seed_bar_figure(empty_table, seed_rows().iloc[0:0], ["FID"])
    assert [text.get_text() for text in bars.texts] == [
        "No bars: no seed run has a comparison table (the study evaluated no generator)."
    ]
    figure = learning_curve_figure(curves().iloc[0:0], seed_table())
    assert any(text.get_text().startswith("No learning curves") for text in figure.texts)
    assert not any(axis.get_lines() for axis in figure.axes)
