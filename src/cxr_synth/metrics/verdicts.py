"""Which differences between generators are real: resampled metrics, paired intervals, verdicts.

A study's number for one architecture varies with two things the reader does not see: the
training seed and the particular held-out images it was measured against. Here each metric is
computed on ``R`` bootstrap resamples of every held-out set (and of the synthetic images), with
the *same* held-out draw ``r`` for every architecture, so differences are paired. The interval of
a difference A − B is a two-level bootstrap (Davison & Hinkley 1997, §3.8): each replicate draws
one held-out resample and, per architecture, its seeds with replacement, and takes the mean over
those seeds. A verdict says "A better than B" only when the 95 % interval excludes zero.
Ranking stability is Kendall's τ between the overall rank order and the order within each seed
and within each held-out resample (Kendall 1938).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from cxr_synth.metrics.features import FeatureBackbone
    from cxr_synth.metrics.options import MetricOptions

RESAMPLED_COLUMNS = ["architecture", "heldout_set", "resample", "metric", "value"]
VERDICT_COLUMNS = ["heldout_set", "metric", "a", "b", "mean_a", "mean_b", "difference",
                   "ci_low", "ci_high", "seeds_a", "seeds_b", "verdict"]  # fmt: skip
STABILITY_COLUMNS = ["heldout_set", "metric", "order", "tau_seeds_mean", "tau_seeds_min",
                     "tau_heldout_mean", "tau_heldout_min", "seeds", "resamples"]  # fmt: skip
NOT_SEPARATED = "not separated"


def lower_is_better(metric: str) -> bool | None:
    """Direction of a distribution metric: True for distances (FID, FD_rand, KID means), False
    for precision, recall and coverage, None for density (ideal at 1) and KID's std."""
    base = metric.split("_")[0]
    if base in ("FID", "FD") or base == "KID" and metric.endswith("mean"):
        return True
    if base in ("precision", "recall", "coverage"):
        return False
    return None


def resampled_metrics(
    heldout_features: Mapping[str, np.ndarray],
    fake_features: np.ndarray,
    backbone: FeatureBackbone,
    options: MetricOptions,
    *,
    architecture: str,
    resamples: int,
    resolution: int | None = None,
) -> pd.DataFrame:
    """Distribution metrics of ``fake_features`` against bootstrap resamples of each held-out set.

    Resample ``r`` of set ``name`` draws the same held-out rows for every architecture (its
    generator depends on ``options.seed``, the set and ``r`` only) and its own synthetic rows,
    both with replacement. Returns one row per (set, resample, directed metric):
    `RESAMPLED_COLUMNS`.
    """
    from cxr_synth.metrics.suite import distribution_metrics

    seed, rows = options.seed, []
    for set_index, (name, real) in enumerate(sorted(heldout_features.items())):
        for r in range(resamples):
            real_rows = np.random.default_rng([seed, set_index, r]).integers(
                len(real), size=len(real)
            )
            fake_rows = np.random.default_rng([seed, set_index, r, 1]).integers(
                len(fake_features), size=len(fake_features)
            )
            values, _ = distribution_metrics(
                real[real_rows], fake_features[fake_rows], backbone,
                options.replace(seed=seed + r), resolution=resolution,
            )  # fmt: skip
            rows += [
                (architecture, name, r, metric, float(value))
                for metric, value in values.items()
                if lower_is_better(metric) is not None
            ]
    return pd.DataFrame(rows, columns=RESAMPLED_COLUMNS)


def primary_metric(resampled: pd.DataFrame) -> str | None:
    """KID's mean (unbiased at any N), on whichever backbone the metrics were computed."""
    names = sorted(m for m in resampled.get("metric", []) if str(m).startswith("KID"))
    return names[0] if names else None


def _candidates(frame: pd.DataFrame) -> pd.Series:
    """What is compared: the architecture, or ``variant/architecture`` in a study with variants."""
    if "variant" in frame and frame["variant"].astype(str).str.len().gt(0).any():
        return frame["variant"].astype(str) + "/" + frame["architecture"].astype(str)
    return frame["architecture"].astype(str)


def _grids(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """candidate -> (seeds, resamples) values of one metric on one held-out set."""
    seeds = frame["seed"] if "seed" in frame else pd.Series(0, index=frame.index)
    table = frame.assign(candidate=_candidates(frame), seed=seeds).pivot_table(
        index=["candidate", "seed"], columns="resample", values="value", aggfunc="mean"
    )
    table = table.dropna(axis=1)  # resamples every (candidate, seed) has
    return {c: table.loc[c].to_numpy() for c in table.index.get_level_values(0).unique()}


def _bootstrap_means(
    grids: Mapping[str, np.ndarray], replicates: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Per candidate, ``replicates`` means over its seeds drawn with replacement, every
    candidate at the same held-out resample in a replicate."""
    n_resamples = min(grid.shape[1] for grid in grids.values())
    columns = rng.integers(n_resamples, size=replicates)
    means = {}
    for name, grid in grids.items():
        seeds = rng.integers(grid.shape[0], size=(replicates, grid.shape[0]))
        means[name] = grid[seeds, columns[:, None]].mean(axis=1)
    return means


def pairwise_verdicts(
    resampled: pd.DataFrame, *, replicates: int = 2000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """For each held-out set, metric and pair (A, B): mean A − B, its interval and a verdict.

    ``resampled``: `RESAMPLED_COLUMNS` rows, with ``seed`` (and ``variant``) columns in a study.
    The interval accounts for both seeds and held-out images (module docstring); with one seed
    it is the held-out resampling alone.
    """
    rows = []
    tail = (1 - level) / 2 * 100
    for (heldout_set, metric), part in _by_set_and_metric(resampled):
        grids = _grids(part)
        names = sorted(grids)
        means = _bootstrap_means(grids, replicates, np.random.default_rng(seed))
        lower = lower_is_better(metric)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                diff = means[a] - means[b]
                low, high = np.percentile(diff, [tail, 100 - tail])
                verdict = NOT_SEPARATED
                if low > 0 or high < 0:
                    a_better = (high < 0) == lower
                    verdict = f"{a if a_better else b} better than {b if a_better else a}"
                rows.append({
                    "heldout_set": heldout_set, "metric": metric, "a": a, "b": b,
                    "mean_a": float(grids[a].mean()), "mean_b": float(grids[b].mean()),
                    "difference": float(grids[a].mean() - grids[b].mean()),
                    "ci_low": float(low), "ci_high": float(high),
                    "seeds_a": grids[a].shape[0], "seeds_b": grids[b].shape[0],
                    "verdict": verdict,
                })  # fmt: skip
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def _by_set_and_metric(resampled: pd.DataFrame):
    if resampled.empty:
        return []
    return resampled.groupby(["heldout_set", "metric"], sort=True)


def _tau(order: pd.Series, reference: pd.Series) -> float:
    from scipy.stats import kendalltau

    tau = kendalltau(order.to_numpy(), reference.loc[order.index].to_numpy()).statistic
    return float(tau) if np.isfinite(tau) else 1.0  # ties everywhere: the same order


def _order(scores: pd.Series) -> str:
    """Candidates best first (lowest score), ties joined by "=" ."""
    groups = scores.sort_values().groupby(scores.sort_values().round(12), sort=True)
    return ", ".join(" = ".join(group.index) for _, group in groups)


def rank_stability(resampled: pd.DataFrame) -> pd.DataFrame:
    """Per held-out set and metric: the overall order (best first) and Kendall's τ of the order
    within each seed and within each held-out resample against it (mean and minimum)."""
    rows = []
    for (heldout_set, metric), part in _by_set_and_metric(resampled):
        grids = _grids(part)
        if len(grids) < 2:
            continue
        sign = 1.0 if lower_is_better(metric) else -1.0
        overall = pd.Series({c: sign * g.mean() for c, g in grids.items()})
        n_seeds = min(g.shape[0] for g in grids.values())
        per_seed = [pd.Series({c: sign * g[s].mean() for c, g in grids.items()})
                    for s in range(n_seeds)]  # fmt: skip
        n_resamples = min(g.shape[1] for g in grids.values())
        per_resample = [pd.Series({c: sign * g[:, r].mean() for c, g in grids.items()})
                        for r in range(n_resamples)]  # fmt: skip
        tau_seed = [_tau(order, overall) for order in per_seed]
        tau_heldout = [_tau(order, overall) for order in per_resample]
        rows.append({
            "heldout_set": heldout_set, "metric": metric,
            "order": _order(overall),
            "tau_seeds_mean": float(np.mean(tau_seed)), "tau_seeds_min": float(np.min(tau_seed)),
            "tau_heldout_mean": float(np.mean(tau_heldout)),
            "tau_heldout_min": float(np.min(tau_heldout)),
            "seeds": n_seeds, "resamples": n_resamples,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=STABILITY_COLUMNS)


def verdicts_markdown(
    verdicts: pd.DataFrame, stability: pd.DataFrame, *, primary: str | None = None
) -> str:
    """The verdict table as Markdown, the primary metric (KID: unbiased at any N) first."""
    if verdicts.empty:
        return "# Which differences are real\n\nNo pair to compare (fewer than two generators).\n"
    metrics = sorted(verdicts["metric"].unique(), key=lambda m: (m != primary, m))
    lines = [
        "# Which differences are real",
        "",
        "Difference A − B of the mean over seeds, with a 95 % interval from a two-level "
        "bootstrap (seeds with replacement × resampled held-out and synthetic images, the same "
        "held-out draw for every generator). A verdict needs an interval that excludes zero; "
        f"otherwise \"{NOT_SEPARATED}\". `{primary}` (unbiased at any N) is the primary distance; "
        "Fréchet distances are biased upwards at small N and comparable only at equal N "
        "(docs/metrics.md).",
        "",
    ]
    for heldout_set in sorted(verdicts["heldout_set"].unique()):
        lines += [f"## Held-out set `{heldout_set}`", ""]
        lines += ["| metric | A | B | mean A | mean B | A − B [95 % CI] | verdict |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        part = verdicts[verdicts["heldout_set"] == heldout_set]
        for metric in metrics:
            for row in part[part["metric"] == metric].itertuples():
                lines.append(
                    f"| {metric} | {row.a} | {row.b} | {row.mean_a:.4g} | {row.mean_b:.4g} | "
                    f"{row.difference:+.3g} [{row.ci_low:+.3g}, {row.ci_high:+.3g}] | "
                    f"{row.verdict} |"
                )
        lines.append("")
        ranks = stability[stability["heldout_set"] == heldout_set]
        if len(ranks):
            lines += ["Rank order (best first) and Kendall's τ of the order within each seed / "
                      "each held-out resample against it (1 = always the same order):", "",
                      "| metric | order | τ seeds (mean, min) | τ held-out (mean, min) |",
                      "|---|---|---|---|"]  # fmt: skip
            for metric in metrics:
                for row in ranks[ranks["metric"] == metric].itertuples():
                    lines.append(
                        f"| {metric} | {row.order} | {row.tau_seeds_mean:.2f}, "
                        f"{row.tau_seeds_min:.2f} | {row.tau_heldout_mean:.2f}, "
                        f"{row.tau_heldout_min:.2f} |"
                    )
            lines.append("")
    return "\n".join(lines)


def separated_best(verdicts: pd.DataFrame, metric: str | None) -> str | None:
    """The candidate whose verdict on ``metric`` is "better than" every other candidate on every
    held-out set (each interval excluding zero), or None when no candidate is separated so."""
    rows = verdicts[verdicts["metric"] == metric] if metric and len(verdicts) else verdicts[:0]
    names = sorted(set(rows["a"]) | set(rows["b"]))
    if len(names) < 2:
        return None
    wins: dict[tuple[str, str], int] = {}
    for row in rows.itertuples():
        for winner, loser in ((row.a, row.b), (row.b, row.a)):
            if row.verdict == f"{winner} better than {loser}":
                wins[(row.heldout_set, winner)] = wins.get((row.heldout_set, winner), 0) + 1
    sets = sorted(set(rows["heldout_set"]))
    best = [n for n in names if all(wins.get((s, n), 0) == len(names) - 1 for s in sets)]
    return best[0] if best else None
