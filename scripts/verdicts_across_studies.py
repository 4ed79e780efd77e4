"""Verdicts between architectures that ran in different studies (e.g. a new architecture's study
beside an earlier comparison): every finished seed run's ``<arch>/resampled_metrics.csv`` of each
``STORE:STUDY[:VARIANT]`` is pooled and judged exactly as one study's summary judges its own
(``cxr_synth.metrics.verdicts``: paired by held-out draw, two-level bootstrap over seeds x draws).

Valid only when every study drew the same held-out images: the same held-out sets, the same
``evaluation.seed`` and ``resamples`` (the script refuses mismatched draw counts; the rest is the
caller's to check, e.g. by the study files). Local stores only: sqlite + ./mlruns, or a local
``mlflow server``'s sqlite + proxied ``artifacts/`` folder.

    python scripts/verdicts_across_studies.py ../cmpA/mlflow.db:comparison_nih_cpu \
        ../zoostore/mlflow.db:comparison_stylegan_nih_cpu@stylegan ../ddpms11/mlflow.db:ddpm_nih_cpu

An architecture must come from one study only (``@`` picks which): the pooled table is keyed by
architecture and seed.
"""

import argparse
import sys
from pathlib import Path

import mlflow
import pandas as pd

from cxr_synth.metrics.verdicts import (
    pairwise_verdicts,
    primary_metric,
    rank_stability,
    verdicts_markdown,
)


def seed_runs(store: str, study: str, variant: str | None) -> list:
    """The finished parent seed runs of ``study`` (and ``variant``) in a local store."""
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("cxr_synth").experiment_id
    query = (
        f"tags.`cxr_synth.study` = '{study}' and tags.`cxr_synth.study_role` = 'seed' "
        "and attributes.status = 'FINISHED'"
    )
    if variant:
        query += f" and tags.`cxr_synth.study_variant` = '{variant}'"
    found = client.search_runs([experiment], query, max_results=1000)
    return [run for run in found if "mlflow.parentRunId" not in run.data.tags]


def artifact_root(store: str, uri: str) -> Path:
    """A run's artifact folder: ``file://`` paths, or a local ``mlflow server``'s proxied
    ``mlflow-artifacts:/`` ones, kept in ``artifacts/`` beside its ``mlflow.db``."""
    if uri.startswith("mlflow-artifacts:/"):
        return Path(store).parent / "artifacts" / uri.removeprefix("mlflow-artifacts:/")
    return Path(uri.removeprefix("file://"))


def resampled(spec: str) -> pd.DataFrame:
    """``STORE:STUDY[:VARIANT][@ARCH,...]`` -> every seed run's resampled metrics (of those
    architectures only, after ``@``), with ``seed``."""
    spec, _, only = spec.partition("@")
    store, study, *variant = spec.split(":")
    frames = []
    for run in seed_runs(store, study, variant[0] if variant else None):
        root = artifact_root(store, run.info.artifact_uri)
        for path in sorted(root.glob("*/resampled_metrics.csv")):
            if only and path.parent.name not in only.split(","):
                continue
            frame = pd.read_csv(path)
            frames.append(frame.assign(seed=int(run.data.tags["cxr_synth.study_seed"]),
                                       run_id=run.info.run_id))  # fmt: skip
    if not frames:
        sys.exit(f"{spec}: no finished seed run with <arch>/resampled_metrics.csv")
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "studies",
        nargs="+",
        help="STORE:STUDY[:VARIANT][@ARCH,...]: an architecture in one study only",
    )
    parser.add_argument("--out", type=Path, help="write the Markdown here (else: print it)")
    args = parser.parse_args()
    parts = {spec: resampled(spec) for spec in args.studies}
    draws = {spec: part["resample"].nunique() for spec, part in parts.items()}
    if len(set(draws.values())) > 1:
        sys.exit(f"the studies drew different numbers of held-out resamples: {draws}")
    pooled = pd.concat(parts.values(), ignore_index=True)
    verdicts, stability = pairwise_verdicts(pooled), rank_stability(pooled)
    lines = [verdicts_markdown(verdicts, stability, primary=primary_metric(pooled)), ""]
    for spec, part in parts.items():
        runs = part.groupby("seed")["run_id"].first()
        lines.append(f"- `{spec}`: {part['architecture'].unique().tolist()}, seed runs "
                     + ", ".join(f"{seed} `{run}`" for seed, run in runs.items()))  # fmt: skip
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
