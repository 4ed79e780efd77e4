"""Paired comparison of two methods on the same images."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cxr_synth.segmentation import paired_difference


def test_mean_interval_and_wilcoxon_of_the_per_image_differences():
    images = [f"img{i:05d}" for i in range(12)]
    baseline = pd.Series(np.linspace(0.7, 0.9, 12), index=images)
    gain = np.random.default_rng(0).normal(0.02, 0.01, 12)
    method = (baseline + gain)[::-1]  # another order: paired by image id, not by position
    result = paired_difference(method, baseline)
    assert result.mean == pytest.approx(gain.mean())
    half = stats.t.ppf(0.975, 11) * gain.std(ddof=1) / math.sqrt(12)
    assert (result.ci_low, result.ci_high) == pytest.approx((gain.mean() - half, gain.mean() + half))
    assert result.p_value == pytest.approx(stats.wilcoxon(gain).pvalue)
    assert result.n_images == 12 and result.ci_low > 0


def test_identical_scores_and_too_few_images_have_no_p_value():
    scores = pd.Series([0.8, 0.9], index=["a", "b"])
    assert math.isnan(paired_difference(scores, scores).p_value)
    single = paired_difference(scores[:1], scores)
    assert math.isnan(single.ci_low) and single.n_images == 1


def test_an_image_without_a_baseline_score_is_an_error():
    with pytest.raises(ValueError, match="no baseline score"):
        paired_difference(pd.Series([0.8], index=["x"]), pd.Series([0.7], index=["y"]))
