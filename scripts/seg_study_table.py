"""The Dice table of segmentation studies, from their MLflow stores: per variant, test set
(in-domain / external) and method, Dice mean ± std over U-Net seeds and the paired per-image
difference to `none`, to a baseline variant and to named cells, read from the runs' per-image CSV
artifacts. The same table as the study summary's `segmentation_table.md` (`kedro study run` writes
it, docs/studies.md); this command also combines the runs of several studies and stores.

    python scripts/seg_study_table.py mlflow.db seg_cross_intensity_montgomery_to_shenzhen_cpu
    python scripts/seg_study_table.py mlflow.db seg_low_data_cross_cpu --suffix _clahe
    python scripts/seg_study_table.py mlflow.db seg_low_data_gan_cpu \
        --also ../segstudy3/mlflow.db:seg_low_data_cross_cpu --versus shenzhen_to_montgomery_clahe/classic

The baseline variant is `--baseline` (default `raw`), or with `--suffix S` each variant `X<S>` is
compared with `X`. `--also STORE:STUDY` adds another study's variants (same split and test images:
the pseudonyms pair them; a study without variants is then one variant named after it),
`--versus VARIANT/METHOD` a column of differences to that cell, `--figure PATH` writes the
setting's Figure 10 (Dice mean ± std per cell, one panel per test set; the dashed line: the first
`none` cell), `--variants A,B,…` keeps only those variants, in that order.
"""

from __future__ import annotations

import argparse

import pandas as pd

from cxr_synth.datasets import MlflowStudyDataset, MlflowStudyFilesDataset
from cxr_synth.segmentation import study_dice_figure
from cxr_synth.study.summary import TEST_SETS, segmentation_summary


def _load(store: str, study: str, named: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The newest finished seed runs of ``study`` and their per-image Dice artifacts; with
    ``named``, a study without variants is one variant named after the study."""
    uri = f"sqlite:///{store}"
    runs = MlflowStudyDataset(study=study, tracking_uri=uri).load()
    per_image = MlflowStudyFilesDataset(
        folders=list(TEST_SETS), suffix="_runs.csv", study=study, tracking_uri=uri
    ).load()
    if named and "variant" not in runs.columns:
        runs["variant"], per_image["variant"] = study, study
    return runs, per_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="the study's sqlite MLflow store (mlflow.db)")
    parser.add_argument("study", help="the study name (tag cxr_synth.study)")
    parser.add_argument(
        "--baseline", default="raw", help="the variant the others are compared with"
    )
    parser.add_argument("--suffix", help="compare each variant X<suffix> with X instead")
    parser.add_argument("--also", action="append", default=[], metavar="STORE:STUDY",
                        help="add another study's variants (same split and test images)")  # fmt: skip
    parser.add_argument("--versus", action="append", default=[], metavar="VARIANT/METHOD",
                        help="a column of paired differences to that cell")  # fmt: skip
    parser.add_argument("--figure", metavar="PATH", help="also write the Dice figure (PNG)")
    parser.add_argument("--variants", help="only these variants (comma-separated), in this order")
    args = parser.parse_args()
    studies = [(args.store, args.study), *(a.split(":", 1) for a in args.also)]
    loaded = [_load(store, study, named=len(studies) > 1) for store, study in studies]
    runs = pd.concat([r for r, _ in loaded], ignore_index=True)
    per_image = pd.concat([p for _, p in loaded], ignore_index=True)
    keys = [c for c in ("variant", "seed") if c in runs.columns]
    twice = runs[runs.duplicated(keys, keep=False)]
    if len(twice):
        pairs = sorted(set(twice[keys].itertuples(index=False, name=None)))
        parser.error(f"{keys} {pairs} are in more than one study; combine studies whose variants "
                     "have distinct names.")  # fmt: skip
    if args.variants:
        wanted = args.variants.split(",")
        unknown = sorted(set(wanted) - set(runs.get("variant", [])))
        if unknown:
            parser.error(f"--variants {unknown}: not variants of these studies")
        runs = runs[runs["variant"].isin(wanted)]
        runs = runs.iloc[runs["variant"].map(wanted.index).argsort(kind="stable")]
    table, markdown = segmentation_summary(per_image, runs, baseline=args.baseline,
                                           suffix=args.suffix, versus=args.versus)  # fmt: skip
    if len(studies) > 1:  # the summary's title names one study
        title, rest = markdown.split("\n", 1)
        names = ", ".join(f"`{study}`" for _, study in studies)
        markdown = f"# Studies {names}: {title.split(': ', 1)[-1]}\n{rest}"
    print(markdown)  # noqa: T201
    if args.figure:
        study_dice_figure(table).savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
