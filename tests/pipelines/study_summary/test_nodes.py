"""The study_summary nodes: the parameters reach the library (``cxr_synth.study.summary``, tested
in tests/study/test_summary.py) and the figures."""

import pandas as pd
import pytest

from cxr_synth.pipelines.study_summary.nodes import (
    build_learning_curves,
    check_study_has_results,
    compare_over_seeds,
    plot_learning_curves,
    plot_seed_bars,
    plot_segmentation_dice,
    select_seed_runs,
    summarise_over_seeds,
    summarise_segmentation,
)
from cxr_synth.runtime.errors import UserError
from cxr_synth.runtime.schema import ParameterError
from tests.study.test_summary import (
    _resampled,
    comparison,
    histories,
    runs_table,
    segmentation_runs,
    with_variants,
)


def test_the_study_section_selects_seeds_and_variants():
    runs = with_variants(runs_table())
    selected = select_seed_runs(runs, {"name": "demo", "seeds": [0, 2], "variants": ["sn"]})
    assert list(zip(selected["variant"], selected["seed"], strict=True)) == [("sn", 0), ("sn", 2)]
    with pytest.raises(UserError, match=r"Study 'demo': seeds \[3\]"):
        select_seed_runs(runs_table(), {"name": "demo", "seeds": [3]})
    with pytest.raises(ParameterError, match="study.sedes: unknown key"):
        select_seed_runs(runs_table(), {"sedes": [3]})


def test_the_summary_section_chooses_metrics_curve_column_and_bars():
    runs = select_seed_runs(runs_table((0, 1)), {"name": "demo"})
    table, _, _ = summarise_over_seeds(comparison(), runs, {"metrics": ["FD_rand"]})
    assert set(table["metric"]) == {"FD_rand"} and (table["n_seeds"] == 2).all()
    curves = build_learning_curves(histories(), runs, table, {})
    assert list(curves["step"][:2]) == [20, 40]  # the default curve column: fid
    with pytest.raises(UserError, match=r"no \['fd'\] column"):
        build_learning_curves(histories(), runs, table, {"curve_column": "fd"})
    assert len(plot_learning_curves(curves, table).axes) == 6
    bars = plot_seed_bars(table, comparison(), runs, {"bar_metrics": ["FID", "coverage"]})
    assert [axis.get_title() for axis in bars.axes] == ["FD_rand (mean ± std, 2 seeds)"]
    verdicts, _, _ = compare_over_seeds(_resampled({"dcgan": 1.0, "proposed": 2.0}), runs)
    assert verdicts["verdict"].tolist() == ["dcgan better than proposed"]


def test_the_segmentation_options_reach_the_dice_table():
    runs = select_seed_runs(with_variants(runs_table((0,)), ("raw", "clahe")), {"name": "demo"})
    seg = with_variants(segmentation_runs(), ("raw", "clahe"))
    table, _ = summarise_segmentation(seg, runs, {"segmentation": {"baseline": "raw"}})
    assert (table.loc[table["variant"] == "clahe", "baseline_variant"] == "raw").all()
    versus = summarise_segmentation(seg, runs, {"segmentation": {"versus": ["raw/none"]}})[0]
    assert "vs_raw/none_mean" in versus.columns
    suffixed = summarise_segmentation(seg, runs, {"segmentation": {"suffix": "_x"}})[0]
    assert suffixed["vs_baseline_mean"].isna().all()
    assert plot_segmentation_dice(table, {}).axes
    check_study_has_results(runs, pd.DataFrame(), table)
    with pytest.raises(UserError, match="none of the artifacts"):
        check_study_has_results(runs, pd.DataFrame(), table.iloc[:0])
