"""Paired comparison of two segmentation methods on the same test images, and the Dice tables
built from such comparisons: one run's methods (``method_dice_table``) and a whole study's
variants, test sets and methods (``study_dice_table``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxr_synth.data.tables import markdown_table, mean_std

CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairedDifference:
    """Method minus baseline, per image (each image's Dice averaged over seeds)."""

    mean: float  # mean per-image difference
    ci_low: float  # 95 % t-interval of that mean over images
    ci_high: float
    p_value: float  # Wilcoxon signed-rank test on the per-image differences (two-sided)
    n_images: int


def paired_difference(method: pd.Series, baseline: pd.Series) -> PairedDifference:
    """``method`` and ``baseline``: per-image scores indexed by image id (the same images; an
    image missing from ``baseline`` is an error). The p-value is NaN for fewer than two images or
    identical scores."""
    missing = method.index.difference(baseline.index)
    if len(missing):
        raise ValueError(f"{len(missing)} images have no baseline score, e.g. {list(missing[:3])}")
    difference = (method - baseline.reindex(method.index)).to_numpy(dtype=float)
    n = difference.size
    mean = float(difference.mean()) if n else math.nan
    if n < 2:
        return PairedDifference(mean, math.nan, math.nan, math.nan, n)
    from scipy import stats  # here: the study summary's pipeline is built without scipy
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * difference.std(ddof=1) / math.sqrt(n)
    p = math.nan if np.allclose(difference, 0) else float(stats.wilcoxon(difference).pvalue)
    return PairedDifference(mean, mean - half, mean + half, p, n)


# ---------------------------------------------------------------------------- a study's table
DIFFERENCE_FIELDS = ("mean", "ci_low", "ci_high", "p")


def _per_seed_and_image(
    frame: pd.DataFrame, key: tuple[str, str, str]
) -> tuple[pd.Series, pd.Series]:
    missing = [c for c in ("seed", "image", "dice") if c not in frame.columns]
    if missing:
        raise ValueError(f"{key}: the per-image rows have no {missing} column")
    replicate = [c for c in ("study_seed", "seed") if c in frame.columns]
    per_seed = frame.groupby(replicate)["dice"].mean()
    return per_seed, frame.groupby("image")["dice"].mean()


def _difference(method: pd.Series, baseline: pd.Series | None) -> dict[str, float]:
    """``paired_difference`` fields, NaN unless both score the same images."""
    if baseline is None or not method.index.equals(baseline.index):
        return dict.fromkeys(DIFFERENCE_FIELDS, math.nan)
    d = paired_difference(method, baseline)
    return dict(zip(DIFFERENCE_FIELDS, (d.mean, d.ci_low, d.ci_high, d.p_value), strict=True))


def _baseline_variant(variant: str, baseline: str | None, suffix: str | None) -> str | None:
    if suffix:
        return variant.removesuffix(suffix) if variant.endswith(suffix) else None
    return baseline if baseline != variant else None


def study_dice_table(
    frames: Mapping[tuple[str, str, str], pd.DataFrame],
    *,
    reference: str = "none",
    baseline: str | None = None,
    suffix: str | None = None,
    versus: Sequence[str] = (),
) -> pd.DataFrame:
    """The Dice table of a segmentation study: per (variant, test set, method), Dice mean ± std
    over U-Net seeds and paired per-image differences (``paired_difference``).

    ``frames``: ``{(variant, test_set, method): rows}``, one row per (U-Net seed, test image)
    with ``seed``, ``image`` and ``dice`` (and ``study_seed``: then a replicate is a
    (study seed, U-Net seed) pair). A seed's Dice is its mean over the images; an image's, its
    mean over the seeds. The differences, each ``<name>_mean``, ``_ci_low``, ``_ci_high``,
    ``_p`` (NaN where the two cells do not score the same images, e.g. another test set):

    - ``vs_reference``: the ``reference`` method (``none``) of the same variant and test set;
    - ``vs_baseline``: the same method and test set of the baseline variant (its name in
      ``baseline_variant``): ``baseline``, or with ``suffix`` the variant ``X`` of each ``X<suffix>``;
    - ``vs_<VARIANT/METHOD>``: each cell of ``versus``, on the same test set.

    One row per key, in the order of ``frames``.
    """
    per_seed, per_image = {}, {}
    for key, frame in frames.items():
        per_seed[key], per_image[key] = _per_seed_and_image(frame, key)
    cells = [tuple(cell.split("/", 1)) for cell in versus]
    if any(len(cell) != 2 for cell in cells):
        raise ValueError(f"versus {list(versus)}: each cell is VARIANT/METHOD")
    rows = []
    for (variant, test_set, method), seeds in per_seed.items():
        images = per_image[variant, test_set, method]
        base = _baseline_variant(variant, baseline, suffix)
        row: dict[str, object] = {
            "variant": variant, "test_set": test_set, "method": method,
            "n_seeds": len(seeds), "n_images": len(images),
            "dice_mean": float(seeds.mean()),
            "dice_std": float(seeds.std(ddof=1)) if len(seeds) > 1 else math.nan,
            "baseline_variant": base if (base, test_set, method) in per_image else None,
        }  # fmt: skip
        comparisons = {
            "vs_reference": (variant, test_set, reference) if method != reference else None,
            "vs_baseline": (base, test_set, method),
            **{f"vs_{v}/{m}": (v, test_set, m) for v, m in cells},
        }
        for name, other in comparisons.items():
            same = other == (variant, test_set, method)
            baseline_scores = None if same else per_image.get(other)
            for field, value in _difference(images, baseline_scores).items():
                row[f"{name}_{field}"] = value
        rows.append(row)
    columns = ["variant", "test_set", "method", "n_seeds", "n_images", "dice_mean", "dice_std",
               "baseline_variant", *(f"{name}_{field}" for name in
               ("vs_reference", "vs_baseline", *(f"vs_{c}" for c in versus))
               for field in DIFFERENCE_FIELDS)]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


METHOD_COLUMNS = ("method", "n_seeds", "dice_mean", "dice_std", "iou_mean", "iou_std",
                  "dice_delta_vs_none", "dice_delta_ci_low", "dice_delta_ci_high", "p_value",
                  "n_images")  # fmt: skip


def method_dice_table(runs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One run's methods on one test set: Dice and IoU mean ± std over seeds and, for every
    method but ``none``, the paired per-image Dice difference to ``none`` (``study_dice_table``'s
    ``vs_reference``: mean, 95 % interval, Wilcoxon p; NaN without a ``none`` run).

    ``runs``: ``{method: rows}``, one row per (seed, test image) with ``seed``, ``image``,
    ``dice`` and ``iou``. Columns ``METHOD_COLUMNS`` (the difference as ``dice_delta_vs_none``,
    ``dice_delta_ci_low``/``_high``, ``p_value``), one row per method in the order of ``runs``.
    """
    dice = study_dice_table(
        {("", "", method): frame for method, frame in runs.items()}, reference="none"
    )
    iou = [frame.groupby("seed")["iou"].mean() for frame in runs.values()]
    return pd.DataFrame(
        {
            "method": dice["method"],
            "n_seeds": dice["n_seeds"],
            "dice_mean": dice["dice_mean"],
            "dice_std": dice["dice_std"],
            "iou_mean": [float(seeds.mean()) for seeds in iou],
            "iou_std": [float(seeds.std(ddof=1)) if len(seeds) > 1 else math.nan for seeds in iou],
            "dice_delta_vs_none": dice["vs_reference_mean"],
            "dice_delta_ci_low": dice["vs_reference_ci_low"],
            "dice_delta_ci_high": dice["vs_reference_ci_high"],
            "p_value": dice["vs_reference_p"],
            "n_images": dice["n_images"],
        },
        columns=list(METHOD_COLUMNS),
    )


def _difference_cell(row: Mapping[str, object], name: str) -> str:
    mean, low, high, p = (float(row[f"{name}_{field}"]) for field in DIFFERENCE_FIELDS)
    if math.isnan(mean):
        return ""
    interval = "" if math.isnan(low) else f" [{low:+.4f}, {high:+.4f}]"
    return f"{mean:+.4f}{interval}" + ("" if math.isnan(p) else f", p={p:.2g}")


def study_dice_markdown(
    table: pd.DataFrame, *, reference: str = "none", suffix: str | None = None
) -> str:
    """``study_dice_table``'s table in Markdown: Dice ``mean ± std`` and each difference as
    ``+Δ [95 % CI], p=…``; a difference column no row has is left out, and so is ``variant``
    when the table has none."""
    shown = pd.DataFrame(
        {
            **({"variant": table["variant"]} if "variant" in table.columns else {}),
            "test set": table["test_set"],
            "method": table["method"],
            "Dice (mean ± std over seeds)": list(
                map(mean_std, table["dice_mean"], table["dice_std"])
            ),
            "seeds": table["n_seeds"],
            "images": table["n_images"],
        }
    )
    bases = sorted({str(b) for b in table["baseline_variant"].dropna()})
    baseline_header = (
        f"Δ vs the variant without {suffix}" if suffix
        else f"Δ vs {bases[0]}" if len(bases) == 1 else "Δ vs the baseline variant"
    )  # fmt: skip
    headers = {"vs_reference": f"Δ vs {reference}", "vs_baseline": baseline_header}
    names = [
        c.removesuffix("_mean")
        for c in table.columns
        if c.startswith("vs_") and c.endswith("_mean")
    ]
    for name in names:
        cells = [_difference_cell(row, name) for row in table.to_dict("records")]
        if any(cells):
            shown[f"{headers.get(name, 'Δ ' + name.replace('_', ' ', 1))} [95 % CI], p"] = cells
    return markdown_table(shown)
