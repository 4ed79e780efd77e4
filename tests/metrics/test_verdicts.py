"""Verdicts: clearly different sets are separated, two draws of one set are not, and the interval
accounts for the held-out resampling."""

import numpy as np
import pandas as pd
import pytest

from cxr_synth.metrics import MetricOptions, build_backbone
from cxr_synth.metrics.verdicts import (
    NOT_SEPARATED,
    lower_is_better,
    pairwise_verdicts,
    rank_stability,
    resampled_metrics,
    separated_best,
    verdicts_markdown,
)


def test_directions():
    assert lower_is_better("FD_rand") and lower_is_better("FID")
    assert lower_is_better("KID_rand_mean") and lower_is_better("KID_mean")
    assert lower_is_better("precision_rand") is False and lower_is_better("coverage") is False
    assert lower_is_better("density_rand") is None and lower_is_better("KID_rand_std") is None


def _frame(values: dict[str, np.ndarray]) -> pd.DataFrame:
    """architecture -> (seeds, resamples) values of KID on one held-out set, as resampled rows."""
    rows = [
        {"architecture": name, "seed": s, "heldout_set": "val", "resample": r,
         "metric": "KID_mean", "value": float(grid[s, r])}
        for name, grid in values.items()
        for s in range(grid.shape[0])
        for r in range(grid.shape[1])
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_a_clear_difference_is_a_verdict():
    rng = np.random.default_rng(0)
    good = 1.0 + 0.05 * rng.standard_normal((3, 50))
    bad = 2.0 + 0.05 * rng.standard_normal((3, 50))
    verdict = pairwise_verdicts(_frame({"good": good, "bad": bad}))
    assert verdict["verdict"].tolist() == ["good better than bad"]  # lower KID is better
    row = verdict.iloc[0]
    assert 0 < row["ci_low"] < row["difference"] < row["ci_high"]  # a = bad, b = good


def test_two_draws_of_one_distribution_are_not_separated():
    rng = np.random.default_rng(1)
    same = [1.0 + 0.3 * rng.standard_normal((3, 50)) for _ in range(2)]
    assert pairwise_verdicts(_frame({"a": same[0], "b": same[1]}))["verdict"].tolist() == [
        NOT_SEPARATED
    ]


def test_the_interval_includes_the_heldout_resampling():
    """Identical seeds, so all the spread is the held-out images': a seed-only interval would be
    a point and call a 0.1 difference real against a held-out spread of 1."""
    rng = np.random.default_rng(2)
    heldout = rng.standard_normal(200)  # what each held-out draw does to both generators alike…
    a = np.tile(1.0 + heldout + 0.5 * rng.standard_normal(200), (3, 1))  # …plus their own part
    b = np.tile(1.1 + heldout + 0.5 * rng.standard_normal(200), (3, 1))
    verdict = pairwise_verdicts(_frame({"a": a, "b": b})).iloc[0]
    assert verdict["verdict"] == NOT_SEPARATED
    assert verdict["ci_high"] - verdict["ci_low"] > 1.0


def test_seed_spread_widens_the_interval():
    rng = np.random.default_rng(3)
    a = 1.0 + rng.standard_normal((3, 1)) + 0.01 * rng.standard_normal((3, 40))
    b = 1.5 + rng.standard_normal((3, 1)) + 0.01 * rng.standard_normal((3, 40))
    assert pairwise_verdicts(_frame({"a": a, "b": b}))["verdict"].tolist() == [NOT_SEPARATED]


def test_rank_stability_is_one_for_a_fixed_order_and_lower_for_a_shaky_one():
    rng = np.random.default_rng(4)
    fixed = {n: v + 0.01 * rng.standard_normal((3, 20)) for n, v in [("a", 1), ("b", 2), ("c", 3)]}
    row = rank_stability(_frame(fixed)).iloc[0]
    assert row["order"] == "a, b, c"
    assert row["tau_seeds_min"] == row["tau_heldout_min"] == 1.0
    shaky = {n: v + rng.standard_normal((3, 20)) for n, v in [("a", 1.0), ("b", 1.1), ("c", 1.2)]}
    assert rank_stability(_frame(shaky)).iloc[0]["tau_heldout_min"] < 1.0
    tied = {n: np.zeros((2, 5)) for n in ("x", "y")}
    assert rank_stability(_frame(tied)).iloc[0]["order"] == "x = y"


def test_resampled_metrics_pair_the_heldout_draws_and_the_markdown_reads():
    backbone = build_backbone("random", seed=0)
    rng = np.random.default_rng(5)
    heldout = {"val": rng.normal(size=(30, backbone.num_features)).astype(np.float32),
               "test": rng.normal(size=(24, backbone.num_features)).astype(np.float32)}  # fmt: skip
    near = rng.normal(size=(40, backbone.num_features)).astype(np.float32)
    far = near + 3.0
    options = MetricOptions(kid_subset_size=10, kid_subsets=5, k_pr=3, k_dc=3)
    frames = [
        resampled_metrics(heldout, fake, backbone, options, architecture=name, resamples=12)
        for name, fake in (("near", near), ("far", far))
    ]
    frame = pd.concat(frames, ignore_index=True)
    assert set(frame["heldout_set"]) == {"val", "test"} and frame["resample"].nunique() == 12
    assert "density_rand" not in set(frame["metric"])
    verdicts = pairwise_verdicts(frame)
    fd = verdicts[(verdicts["metric"] == "FD_rand") & (verdicts["heldout_set"] == "val")]
    assert fd["verdict"].tolist() == ["near better than far"]
    again = resampled_metrics(heldout, near, backbone, options, architecture="near", resamples=12)
    pd.testing.assert_frame_equal(again, frames[0])  # seeded: the same draws every time
    text = verdicts_markdown(verdicts, rank_stability(frame), primary="KID_rand_mean")
    assert "near better than far" in text and "## Held-out set `test`" in text
    assert text.index("| KID_rand_mean |") < text.index("| FD_rand |")


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_generators_give_no_pairs(n):
    frame = _frame({f"g{i}": np.ones((2, 5)) for i in range(n)})
    assert pairwise_verdicts(frame).empty
    assert "No pair" in verdicts_markdown(pairwise_verdicts(frame), rank_stability(frame))


def test_separated_best_beats_every_other_on_every_heldout_set():
    """The registry's ``best`` rule (cxr_synth.sharing.registry): names that prefix others
    (proposed, proposed_tuned) are not confused, and one set without the verdict is enough."""
    rng = np.random.default_rng(0)
    grids = {"proposed": 0.5 + 0.01 * rng.standard_normal((2, 40)),
             "proposed_tuned": 1.0 + 0.01 * rng.standard_normal((2, 40)),
             "dcgan": 1.0 + 0.01 * rng.standard_normal((2, 40))}  # fmt: skip
    frame = _frame(grids)
    assert separated_best(pairwise_verdicts(frame), "KID_mean") == "proposed"
    assert separated_best(pairwise_verdicts(frame), "FD_rand") is None  # not compared
    tied = _frame({**grids, "proposed": grids["dcgan"].copy()}).assign(heldout_set="test")
    both = pairwise_verdicts(pd.concat([frame, tied]))
    assert separated_best(both, "KID_mean") is None  # not separated on "test"
    assert separated_best(both[both["heldout_set"] == "val"], "KID_mean") == "proposed"
    assert separated_best(pairwise_verdicts(_frame({"dcgan": grids["dcgan"]})), "KID_mean") is None
