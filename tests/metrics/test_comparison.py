"""The comparison table's layout, from plain reports (metrics.comparison; no torch)."""

from __future__ import annotations

import math

import pytest

from cxr_synth.metrics.comparison import comparison_table, feature_column

BASELINE = {
    "n_real": 24, "n_heldout": 12, "external": None, "warnings": ["small N"],
    "metrics": {"baseline_FD_rand": 1.5, "baseline_KID_rand_mean": 0.1},
}  # fmt: skip


def _report(name: str, fd: float, warnings=()) -> dict:
    return {
        "architecture": name, "backbone": "rand-vgg6", "fid_label": "FD_rand",
        "metrics": {"FD_rand": fd, "n_fake": 12.0, "ssim_nn_mean": 0.5},
        "training": {"train_hours": 0.1, "best_epoch": 3.0}, "warnings": list(warnings),
    }  # fmt: skip


def test_feature_columns_follow_the_backbone():
    assert feature_column("FID", "FID") == "FID" and feature_column("FID", "FD_rand") == "FD_rand"
    assert feature_column("KID_mean", "FD_rand") == "KID_rand_mean"
    assert feature_column("precision", "FD_rand") == "precision_rand"
    assert feature_column("precision", "FID") == "precision"


def test_one_row_per_report_the_baseline_in_markdown_and_every_value():
    reports = [_report("dcgan", 3.0), _report("proposed", 2.0, ["only here"])]
    table, markdown, values = comparison_table(BASELINE, reports)
    assert list(table["architecture"]) == ["dcgan", "proposed"]
    assert list(table.columns[:3]) == ["architecture", "FD_rand", "KID_rand_mean"]
    assert table["dice"].isna().all() and math.isnan(table.loc[0, "precision_rand"])
    assert "real (held-out) baseline" in markdown and "- small N\n" in markdown
    assert "- only here (proposed)" in markdown and "dcgan 12, proposed 12" in markdown
    assert values["proposed.FD_rand"] == 2.0 and values["baseline.FD_rand"] == 1.5
    assert values["baseline.n_fake"] == 12.0


def test_external_columns_and_refusals():
    external = {**BASELINE, "external": {"name": "mont", "n": 7}}
    table, markdown, _ = comparison_table(external, [_report("dcgan", 3.0)])
    assert "FD_rand_external" in table and "`mont` (7 images" in markdown
    with pytest.raises(ValueError, match="no architecture"):
        comparison_table(BASELINE, [])
    with pytest.raises(ValueError, match="different backbones"):
        comparison_table(BASELINE, [_report("a", 1.0), {**_report("b", 1.0), "fid_label": "FID"}])
