"""The Dice table of a segmentation-only study (no GAN, so no study_summary): per variant, test
set (in-domain / external) and method, Dice mean ± std over U-Net seeds and the paired per-image
difference to `none` and to a baseline variant, read from the runs' per-image CSV artifacts.

    python scripts/seg_study_table.py mlflow.db seg_cross_intensity_montgomery_to_shenzhen_cpu
    python scripts/seg_study_table.py mlflow.db seg_low_data_cross_cpu --suffix _clahe
    python scripts/seg_study_table.py mlflow.db seg_low_data_gan_cpu \
        --also ../segstudy3/mlflow.db:seg_low_data_cross_cpu --versus shenzhen_to_montgomery_clahe/classic

The baseline variant is `--baseline` (default `raw`), or with `--suffix S` each variant `X<S>` is
compared with `X`. `--also STORE:STUDY` adds another study's variants (same split and test images:
the pseudonyms pair them), `--versus VARIANT/METHOD` a column of differences to that cell.
"""

from __future__ import annotations

import argparse
import tempfile

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from cxr_synth.segmentation import paired_difference
from cxr_synth.tables import markdown_table

SETS = {"in": "segmentation", "ext": "segmentation_external"}


def _runs(store: str, study: str) -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{store}")
    runs = mlflow.search_runs(
        experiment_names=["cxr_synth"],
        filter_string=f"tags.`cxr_synth.study` = '{study}' and tags.`cxr_synth.study_role` = 'seed'",
    )
    return runs[(runs["status"] == "FINISHED") & runs["tags.mlflow.parentRunId"].isna()]


def _per_image_frames(store: str, study: str, tmp: str) -> dict[tuple[str, str, str], pd.DataFrame]:
    """{(variant, test set, method): per-(seed, image) rows} of every finished run of ``study``."""
    frames, client = {}, None
    for _, run in _runs(store, study).iterrows():
        client = client or MlflowClient()
        variant = run["tags.cxr_synth.study_variant"]
        print(f"{variant}: run {run['run_id']}")
        for kind, folder in SETS.items():
            for artifact in client.list_artifacts(run["run_id"], folder):
                name = artifact.path.rsplit("/", 1)[-1]
                if name.endswith("_runs.csv"):
                    path = client.download_artifacts(run["run_id"], artifact.path, tmp)
                    frames[variant, kind, name.removesuffix("_runs.csv")] = pd.read_csv(path)
    return frames


def _versus(per_image: pd.Series, baseline: pd.Series) -> str:
    d = paired_difference(per_image, baseline)
    return f"{d.mean:+.4f} [{d.ci_low:+.4f}, {d.ci_high:+.4f}], p={d.p_value:.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="the study's sqlite MLflow store (mlflow.db)")
    parser.add_argument("study", help="the study name (tag cxr_synth.study)")
    parser.add_argument(
        "--baseline", default="raw", help="the variant the others are compared with"
    )
    parser.add_argument("--suffix", help="compare each variant X<suffix> with X instead")
    parser.add_argument("--also", action="append", default=[], metavar="STORE:STUDY",
                        help="add another study's variants (same split and test images)")
    parser.add_argument("--versus", action="append", default=[], metavar="VARIANT/METHOD",
                        help="a column of paired differences to that cell")
    args = parser.parse_args()
    frames = {}
    with tempfile.TemporaryDirectory() as tmp:
        for store, study in [(args.store, args.study), *(a.split(":", 1) for a in args.also)]:
            frames.update(_per_image_frames(store, study, tmp))
    per_image = {key: f.groupby("image")["dice"].mean() for key, f in frames.items()}
    rows = []
    for (variant, kind, method), frame in sorted(frames.items()):
        per_seed = frame.groupby("seed")["dice"].mean()
        row = {"variant": variant, "test set": kind, "method": method,
               "dice": f"{per_seed.mean():.4f} ± {per_seed.std(ddof=1):.4f}",
               "seeds": len(per_seed), "images": per_image[variant, kind, method].size}  # fmt: skip
        if method != "none" and (variant, kind, "none") in per_image:
            row["Δ vs none [95% CI], p"] = _versus(
                per_image[variant, kind, method], per_image[variant, kind, "none"]
            )
        for cell in args.versus:
            reference = (*cell.split("/", 1),)
            key = (reference[0], kind, reference[1])
            ours = per_image[variant, kind, method]
            if key in per_image and key != (variant, kind, method) and ours.index.equals(
                per_image[key].index  # the same test images (another direction has others)
            ):
                row[f"Δ vs {cell} [95% CI], p"] = _versus(ours, per_image[key])
        base = (
            variant.removesuffix(args.suffix)
            if args.suffix and variant.endswith(args.suffix)
            else None
            if args.suffix
            else args.baseline
        )
        if base and base != variant and (base, kind, method) in per_image:
            row["Δ vs baseline variant [95% CI], p"] = _versus(
                per_image[variant, kind, method], per_image[base, kind, method]
            )
        rows.append(row)
    print(markdown_table(pd.DataFrame(rows).fillna("")))


if __name__ == "__main__":
    main()
