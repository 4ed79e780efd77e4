"""The study summary without Kedro, on small hand-made seed results (no MLflow, no files)."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from cxr_synth.runtime.errors import UserError
from cxr_synth.study.figures import learning_curve_figure, seed_bar_figure
from cxr_synth.study.summary import (
    check_has_results,
    learning_curves,
    rows_of_runs,
    seed_summary,
    segmentation_summary,
    select_runs,
    verdicts_over_seeds,
)

BARS = ["FID", "KID_mean", "precision", "recall", "density", "coverage"]  # the default panels

FD = {("dcgan", 0): 1.0, ("dcgan", 1): 2.0, ("dcgan", 2): 4.5,
      ("lsgan", 0): 3.0, ("lsgan", 1): 3.5, ("lsgan", 2): 2.0}  # fmt: skip


def runs_table(seeds=(0, 1, 2), config="abc") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "study": "demo",
            "seed": list(seeds),
            "run_id": [f"r{s}" for s in seeds],
            "run_name": "__default__",
            "start_time": pd.Timestamp("2026-12-01", tz="UTC"),
            "duration_s": 60.0,
            "config": config,
        }  # fmt: skip
    )


def comparison(seeds=(0, 1, 2)) -> pd.DataFrame:
    rows = [
        {
            "seed": s,
            "run_id": f"r{s}",
            "architecture": a,
            "FD_rand": FD[(a, s)],
            "precision_rand": 0.1 * (s + 1),
            "recall_rand": 0.5,
            "train_hours": 0.01 * (s + 1),
            "dice": np.nan,
        }  # fmt: skip
        for s in seeds
        for a in ("dcgan", "lsgan")
    ]
    return pd.DataFrame(rows)


def histories(seeds=(0, 1, 2)) -> pd.DataFrame:
    rows = []
    for s in seeds:
        for a in ("dcgan", "lsgan", "pairs.dcgan"):
            for epoch in (1, 2, 3, 4):
                rows.append(
                    {
                        "seed": s,
                        "run_id": f"r{s}",
                        "architecture": a,
                        "epoch": epoch,
                        "step": 10 * epoch,
                        "epoch_time_s": 2.0 + s,
                        "fid": 10.0 / epoch + s if epoch % 2 == 0 else np.nan,
                    }  # fmt: skip
                )
    return pd.DataFrame(rows)


def no_rows(kind: str, variants: bool = False) -> pd.DataFrame:
    """What the Optional/Files study datasets load when no seed run has the artifacts."""
    columns = ["study_seed", "run_id", "folder", "name"] if kind == "segmentation" else [
        "seed", "run_id"]  # fmt: skip
    return pd.DataFrame(columns=["variant", *columns] if variants else columns)


SEG_IMAGES = {"segmentation": ["img1", "img2", "img3", "img4"],
              "segmentation_external": ["x1", "x2", "x3"]}  # fmt: skip


def segmentation_runs(seeds=(0,), unet_seeds=(0, 1)) -> pd.DataFrame:
    """Per-image Dice as MlflowStudyFilesDataset loads it: none 0.6 + 0.02 i (+0.01 per U-Net
    seed), classic that + 0.01 (i + 1), so classic - none per image is 0.01, 0.02, ...."""
    rows = []
    for s in seeds:
        for folder, images in SEG_IMAGES.items():
            for method in ("classic", "none"):  # MLflow lists them alphabetically
                for u in unet_seeds:
                    for i, image in enumerate(images):
                        gain = 0.01 * (i + 1) if method == "classic" else 0.0
                        dice = 0.6 + 0.02 * i + 0.01 * u + gain
                        rows.append({"study_seed": s, "run_id": f"r{s}", "folder": folder,
                                     "name": method, "method": method, "seed": u, "image": image,
                                     "dice": dice})  # fmt: skip
    return pd.DataFrame(rows)


def test_select_runs_keeps_the_requested_seeds_and_refuses_missing_ones():
    runs = select_runs(runs_table(), name="demo", seeds=[2, 0])
    assert list(runs["seed"]) == [0, 2]
    assert list(select_runs(runs_table(), name="demo", seeds=[])["seed"]) == [0, 1, 2]
    with pytest.raises(UserError, match=r"seeds \[3\] have no finished MLflow run"):
        select_runs(runs_table(), name="demo", seeds=[0, 3])


def test_select_runs_refuses_seeds_from_different_configurations():
    mixed = pd.concat([runs_table((0, 1)), runs_table((2,), config="other")], ignore_index=True)
    with pytest.raises(UserError, match="different study configurations"):
        select_runs(mixed, name="demo", seeds=[])


def test_summary_is_mean_and_sample_std_over_seeds_per_architecture_and_metric():
    table, markdown, metrics = seed_summary(comparison(), runs_table())
    dcgan = table[(table["architecture"] == "dcgan") & (table["metric"] == "FD_rand")].iloc[0]
    values = [FD[("dcgan", s)] for s in (0, 1, 2)]
    assert dcgan["mean"] == pytest.approx(np.mean(values))
    assert dcgan["std"] == pytest.approx(np.std(values, ddof=1))
    assert dcgan["n_seeds"] == 3 and dcgan["seeds"] == "0,1,2" and dcgan["values"] == "1;2;4.5"
    assert "dice" not in set(table["metric"])  # no seed has a value: not a metric of this study
    assert list(dict.fromkeys(table["architecture"])) == ["dcgan", "lsgan"]
    assert f"{np.mean(values):.4g} ± {np.std(values, ddof=1):.2g} (3 seeds)" in markdown
    assert "`r0`" in markdown and "mean ± std over 3 seeds" in markdown
    assert metrics["dcgan.FD_rand.std"]["value"] == pytest.approx(np.std(values, ddof=1))


def test_summary_uses_only_the_selected_runs_and_the_listed_metrics():
    table, markdown, _ = seed_summary(comparison(), runs_table((0, 1)), ["FD_rand"])
    assert set(table["metric"]) == {"FD_rand"} and (table["n_seeds"] == 2).all()
    with pytest.raises(UserError, match=r"study_summary.metrics: \['FID'\]"):
        seed_summary(comparison(), runs_table(), ["FID"])


def test_one_seed_has_a_mean_but_no_std():
    table, markdown, metrics = seed_summary(comparison((0,)), runs_table((0,)))
    assert table["std"].isna().all() and (table["n_seeds"] == 1).all()
    assert "(1 seed)" in markdown and "±" not in markdown.split("|---|")[1]
    assert not any(key.endswith(".std") for key in metrics)


def test_learning_curves_average_fd_and_cumulative_training_time_over_seeds():
    seed_table, _, _ = seed_summary(comparison(), runs_table())
    curves = learning_curves(histories(), runs_table(), seed_table)
    assert list(dict.fromkeys(curves["architecture"])) == ["dcgan", "lsgan"]  # no pairs.*
    dcgan = curves[curves["architecture"] == "dcgan"].set_index("step")
    assert list(dcgan.index) == [20, 40]  # evaluated epochs only
    fd_at_20 = [10.0 / 2 + s for s in (0, 1, 2)]
    assert dcgan.at[20, "fd_mean"] == pytest.approx(np.mean(fd_at_20))
    assert dcgan.at[20, "fd_std"] == pytest.approx(np.std(fd_at_20, ddof=1))
    wall_at_40 = [4 * (2.0 + s) for s in (0, 1, 2)]  # four epochs of training time
    assert dcgan.at[40, "wall_clock_s_mean"] == pytest.approx(np.mean(wall_at_40))
    assert (dcgan["n_seeds"] == 3).all() and dcgan.at[40, "epoch"] == 4


def test_learning_curves_name_a_missing_history_column():
    seed_table, _, _ = seed_summary(comparison(), runs_table())
    with pytest.raises(UserError, match=r"no \['fd'\] column.*curve_column"):
        learning_curves(histories(), runs_table(), seed_table, "fd")


def test_learning_curve_figure_has_fd_curves_and_final_precision_recall_points():
    seed_table, _, _ = seed_summary(comparison(), runs_table())
    curves = learning_curves(histories(), runs_table(), seed_table)
    figure = learning_curve_figure(curves, seed_table)
    assert isinstance(figure, Figure)
    axes = figure.axes
    assert len(axes) == 6
    fd_steps = axes[0]
    assert [line.get_label() for line in fd_steps.get_lines()] == ["dcgan", "lsgan"]
    np.testing.assert_allclose(fd_steps.get_lines()[0].get_ydata(), curves["fd_mean"][:2])
    assert len(fd_steps.collections) == 2  # one ±std band per architecture
    assert "precision_rand" in axes[2].get_title() and axes[2].has_data()


def test_bar_figure_has_one_panel_per_metric_with_error_bars_and_seed_dots():
    seed_table, _, _ = seed_summary(comparison(), runs_table())
    figure = seed_bar_figure(seed_table, rows_of_runs(comparison(), runs_table()),
                             ["FID", "precision", "coverage"])  # fmt: skip
    titles = [axis.get_title() for axis in figure.axes]
    assert titles == ["FD_rand (mean ± std, 3 seeds)", "precision_rand (mean ± std, 3 seeds)"]
    bars = [patch.get_height() for patch in figure.axes[0].patches]
    assert bars == pytest.approx([np.mean([FD[("dcgan", s)] for s in (0, 1, 2)]),
                                  np.mean([FD[("lsgan", s)] for s in (0, 1, 2)])])  # fmt: skip
    dots = [line for line in figure.axes[0].get_lines() if line.get_marker() == "."]
    assert sorted(np.concatenate([d.get_ydata() for d in dots])) == sorted(FD.values())
    with pytest.raises(UserError, match="bar_metrics"):
        seed_bar_figure(seed_table, rows_of_runs(comparison(), runs_table()), ["nope"])


# ------------------------------------------------------------------------ variants (ablations)
def with_variants(frame: pd.DataFrame, variants=("base", "sn"), shift=10.0) -> pd.DataFrame:
    """``frame`` once per variant (run ids ``<variant>-r<s>``; the second variant's FD +shift)."""
    parts = []
    for i, variant in enumerate(variants):
        part = frame.copy()
        part.insert(0, "variant", variant)
        part["run_id"] = variant + "-" + part["run_id"]
        for column in ("FD_rand", "fid"):
            if column in part:
                part[column] = part[column] + i * shift
        if "config" in part:
            part["config"] = f"h-{variant}"
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_variant_runs_are_selected_per_variant_in_the_requested_order():
    runs = with_variants(runs_table())
    selected = select_runs(runs, name="demo", seeds=[0, 2], variants=["sn", "base"])
    assert list(zip(selected["variant"], selected["seed"], strict=True)) == [
        ("sn", 0), ("sn", 2), ("base", 0), ("base", 2)
    ]
    every = select_runs(runs, name="demo")  # one config per variant is fine
    assert list(dict.fromkeys(every["variant"])) == ["base", "sn"] and len(every) == 6
    with pytest.raises(UserError, match=r"variants \['nope'\] have no finished MLflow run"):
        select_runs(runs, name="demo", variants=["base", "nope"])
    with pytest.raises(UserError, match=r"variant 'sn': seeds \[3\] have no finished"):
        select_runs(runs[runs["seed"] != 3], name="demo", seeds=[0, 3], variants=["sn"])
    mixed = runs.copy()
    mixed.loc[0, "config"] = "other"
    with pytest.raises(UserError, match="variant 'base': its seed runs used different"):
        select_runs(mixed, name="demo")
    plain = runs.copy()
    plain.loc[plain["variant"] == "base", "variant"] = ""
    with pytest.raises(UserError, match="with and without a variant"):
        select_runs(plain, name="demo")
    with pytest.raises(UserError, match="have no variant"):
        select_runs(runs_table(), name="demo", variants=["base"])


def test_the_summary_has_a_row_per_variant_and_architecture():
    runs = select_runs(with_variants(runs_table()), name="demo", variants=["sn", "base"])
    table, markdown, metrics = seed_summary(with_variants(comparison()), runs)
    assert list(table.columns[:3]) == ["variant", "architecture", "metric"]
    assert list(dict.fromkeys(zip(table["variant"], table["architecture"], strict=True))) == [
        ("sn", "dcgan"), ("sn", "lsgan"), ("base", "dcgan"), ("base", "lsgan")
    ]  # variants in the selected order
    fd = table[table["metric"] == "FD_rand"].set_index(["variant", "architecture"])
    values = [FD[("dcgan", s)] for s in (0, 1, 2)]
    assert fd.at[("base", "dcgan"), "mean"] == pytest.approx(np.mean(values))
    assert fd.at[("sn", "dcgan"), "mean"] == pytest.approx(np.mean(values) + 10)
    assert fd.at[("sn", "dcgan"), "std"] == pytest.approx(np.std(values, ddof=1))
    assert (fd["n_seeds"] == 3).all()
    header = next(line for line in markdown.splitlines() if line.startswith("| variant |"))
    separator = markdown.splitlines()[markdown.splitlines().index(header) + 1]
    assert separator == "|" + "---|" * header.count(" | ") + "---|" and "||" not in markdown
    assert "| variant | architecture | FD_rand |" in markdown
    assert f"| sn | dcgan | {np.mean(values) + 10:.4g} ± " in markdown
    assert "sn: 0 (`sn-r0`)" in markdown and "mean ± std over 3 seeds" in markdown
    assert metrics["base.dcgan.FD_rand.mean"]["value"] == pytest.approx(np.mean(values))


def test_learning_curves_and_figures_per_variant():
    runs = select_runs(with_variants(runs_table()), name="demo")
    seed_table, _, _ = seed_summary(with_variants(comparison()), runs)
    curves = learning_curves(with_variants(histories()), runs, seed_table)
    assert list(curves.columns[:3]) == ["variant", "architecture", "step"]
    assert list(dict.fromkeys(zip(curves["variant"], curves["architecture"], strict=True))) == [
        ("base", "dcgan"), ("base", "lsgan"), ("sn", "dcgan"), ("sn", "lsgan")
    ]  # pairs.* left out, as without variants
    sn = curves[(curves["variant"] == "sn") & (curves["architecture"] == "dcgan")].set_index("step")
    assert sn.at[20, "fd_mean"] == pytest.approx(np.mean([5.0 + s for s in (0, 1, 2)]) + 10)
    figure = learning_curve_figure(curves, seed_table)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["base/dcgan", "base/lsgan", "sn/dcgan", "sn/lsgan"]  # several architectures
    bars = seed_bar_figure(seed_table, rows_of_runs(with_variants(comparison()), runs), ["FID"])
    ticks = [t.get_text() for t in bars.axes[0].get_xticklabels()]
    assert ticks == labels
    heights = [patch.get_height() for patch in bars.axes[0].patches]
    assert heights[2] == pytest.approx(heights[0] + 10)
    dots = [line for line in bars.axes[0].get_lines() if line.get_marker() == "."]
    assert [len(d.get_xdata()) for d in dots] == [3, 3, 3, 3]


def test_one_architecture_labels_curves_and_bars_by_variant_alone():
    one = lambda frame: frame[frame["architecture"] != "lsgan"]  # noqa: E731
    runs = select_runs(with_variants(runs_table()), name="demo")
    seed_table, _, _ = seed_summary(one(with_variants(comparison())), runs)
    curves = learning_curves(one(with_variants(histories())), runs, seed_table)
    figure = learning_curve_figure(curves, seed_table)
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["base", "sn"]
    bars = seed_bar_figure(seed_table, rows_of_runs(with_variants(comparison()), runs), ["FID"])
    assert [t.get_text() for t in bars.axes[0].get_xticklabels()] == ["base", "sn"]


# ------------------------------------------------------------------------ studies without a GAN
def test_a_segmentation_study_has_dice_and_paired_differences_per_test_set_and_method():
    table, markdown = segmentation_summary(segmentation_runs(), runs_table((0,)))
    assert "variant" not in table.columns  # a study without variants, as the seed table
    assert list(zip(table["test_set"], table["method"], strict=True)) == [
        ("in", "none"), ("in", "classic"), ("ext", "none"), ("ext", "classic")
    ]  # in-domain first, the reference method first  # fmt: skip
    classic = table.iloc[1]
    assert classic["n_seeds"] == 2 and classic["n_images"] == 4
    # U-Net seed 0: mean of 0.61 + 0.03 i over i < 4 = 0.655; seed 1: 0.665
    assert classic["dice_mean"] == pytest.approx(0.66)
    assert classic["dice_std"] == pytest.approx(np.std([0.655, 0.665], ddof=1))
    assert classic["vs_reference_mean"] == pytest.approx(0.025)  # mean of 0.01 .. 0.04
    assert classic["vs_reference_p"] == pytest.approx(0.125)  # four positive: exact Wilcoxon
    assert table.iloc[3]["vs_reference_mean"] == pytest.approx(0.02)  # ext: 0.01 .. 0.03
    assert "| in | classic | 0.6600 ± 0.0071 | 2 | 4 | +0.0250 [" in markdown
    assert "`r0`" in markdown and "over 2 U-Net seeds" in markdown


def test_the_segmentation_table_compares_each_variant_with_the_baseline_variant():
    runs = select_runs(with_variants(runs_table((0,)), ("raw", "clahe")), name="demo")
    seg = with_variants(segmentation_runs(), ("raw", "clahe"))
    seg.loc[seg["variant"] == "clahe", "dice"] += 0.05
    table, markdown = segmentation_summary(seg, runs, baseline="raw")
    assert list(dict.fromkeys(table["variant"])) == ["clahe", "raw"]  # the runs' order
    clahe = table.set_index(["variant", "test_set", "method"]).loc[("clahe", "ext", "classic")]
    assert clahe["baseline_variant"] == "raw"
    assert clahe["vs_baseline_mean"] == pytest.approx(0.05)
    assert "Δ vs raw [95 % CI], p" in markdown and "| clahe | ext | classic |" in markdown
    paired = segmentation_summary(seg, runs, suffix="_x")[0]
    assert paired["vs_baseline_mean"].isna().all()  # no variant ends with _x


def test_without_segmentation_artifacts_the_table_is_empty_with_a_warning(caplog):
    table, markdown = segmentation_summary(no_rows("segmentation"), runs_table())
    assert table.empty and {"test_set", "method", "dice_mean", "vs_reference_p"} <= set(table)
    assert "ran no segmentation" in markdown
    assert "segmentation table is empty" in caplog.text


def test_without_comparison_tables_the_gan_outputs_are_empty_with_a_warning(caplog):
    runs = runs_table((0,))
    seed_table, markdown, metrics = seed_summary(no_rows("comparison"), runs)
    assert seed_table.empty and list(seed_table.columns) == [
        "architecture", "metric", "mean", "std", "n_seeds", "seeds", "values"
    ]  # fmt: skip
    assert metrics == {} and "no comparison tables" in markdown and "`r0`" in markdown
    assert "no seed run has a comparison table" in caplog.text
    curves = learning_curves(no_rows("histories"), runs, seed_table)
    assert curves.empty and "fd_mean" in curves.columns
    assert isinstance(learning_curve_figure(curves, seed_table), Figure)
    bars = seed_bar_figure(seed_table, rows_of_runs(no_rows("comparison"), runs), BARS)
    assert any("No bars" in text.get_text() for text in bars.texts)


def test_without_histories_the_learning_curves_are_empty_with_a_warning(caplog):
    seed_table, _, _ = seed_summary(comparison(), runs_table())  # evaluation only
    curves = learning_curves(no_rows("histories"), runs_table(), seed_table)
    assert curves.empty and list(curves.columns[:2]) == ["architecture", "step"]
    assert "no seed run has a <arch>/history.csv" in caplog.text
    figure = learning_curve_figure(curves, seed_table)
    assert any("No learning curves" in text.get_text() for text in figure.texts)


def test_a_summary_with_neither_gan_nor_segmentation_results_fails():
    seed_table, _, _ = seed_summary(comparison(), runs_table())
    segmentation, _ = segmentation_summary(segmentation_runs(), runs_table((0,)))
    empty = seed_table.iloc[:0]
    check_has_results(runs_table(), seed_table, segmentation.iloc[:0])
    check_has_results(runs_table(), empty, segmentation)
    with pytest.raises(UserError, match="none of the artifacts .* the evaluation or the segm"):
        check_has_results(runs_table(), empty, segmentation.iloc[:0])


def _resampled(seed_shift: dict[str, float], seeds=(0, 1, 2), resamples=30) -> pd.DataFrame:
    """Resampled KID rows for architectures whose level is ``seed_shift[arch]``, per seed run."""
    rng = np.random.default_rng(0)
    rows = [
        {"seed": s, "run_id": f"r{s}", "architecture": arch, "heldout_set": "val",
         "resample": r, "metric": "KID_rand_mean", "value": level + 0.01 * rng.standard_normal()}
        for s in seeds for arch, level in seed_shift.items() for r in range(resamples)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_verdicts_over_seeds_gives_verdicts_of_the_selected_runs_only():
    resampled = _resampled({"dcgan": 1.0, "proposed": 2.0})
    verdicts, markdown, stability = verdicts_over_seeds(resampled, runs_table((0, 1)))
    assert verdicts["verdict"].tolist() == ["dcgan better than proposed"]
    assert verdicts["seeds_a"].tolist() == [2]  # run2 is not selected
    assert stability["order"].tolist() == ["dcgan, proposed"]
    assert "dcgan better than proposed" in markdown and "r0" in markdown


def test_verdicts_over_seeds_without_resampled_metrics_warns(caplog):
    verdicts, markdown, _ = verdicts_over_seeds(no_rows("resampled"), runs_table((0,)))
    assert verdicts.empty and "No pair" in markdown
    assert "no verdicts" in caplog.text
