"""Project commands: ``kedro study run studies/<file>.yml`` (multi-seed studies, docs/studies.md)
and ``generate`` (synthetic PNGs from a trained generator, docs/sharing.md; also
``python -m cxr_synth generate``, which needs no Kedro project).

Kedro adds the commands of this module's ``cli`` group to the project's ``kedro`` command.
``run`` is Kedro's own ``kedro run``, re-exported because ``python -m cxr_synth`` looks for it
here once a project ``cli.py`` exists.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from kedro.framework.cli.project import run  # noqa: F401  (python -m cxr_synth)
from kedro.framework.cli.utils import _split_params
from kedro.utils import find_kedro_project

from cxr_synth.runtime.errors import UserError
from cxr_synth.runtime.writable import nearest_existing
from cxr_synth.sharing.params import MAX_IMAGES
from cxr_synth.study.executors import EXECUTORS


@click.group(name="cxr_synth")
def cli() -> None:
    """cxr-synth project commands."""


@cli.group()
def study() -> None:
    """Multi-seed studies: one `kedro run` per seed, then the study_summary aggregate."""


def _key(key) -> str:
    """A seed, or a (variant, seed) pair as ``variant/seed``."""
    return f"{key[0]}/{key[1]}" if isinstance(key, tuple) else str(key)


@study.command("run")
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--params",
    type=click.UNPROCESSED,
    default="",
    callback=_split_params,
    help="key=value pairs merged key by key over the study file's run.params (unlike "
    "`kedro run --config FILE --params`, which replaces them).",
)
@click.option("--force", is_flag=True, help="Rerun seeds (and variants) that already finished.")
@click.option("--dry-run", is_flag=True, help="Check the file and show the plan; run nothing.")
@click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default="sequential",
    show_default=True,
    help="sequential: one run after another in this process; local: --jobs runs at a time on "
    "this machine; slurm: a job array and a dependent summary job (returns once submitted).",
)
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs at a time (local, slurm).")  # fmt: skip
@click.option(
    "--resources",
    type=click.UNPROCESSED,
    default="",
    callback=_split_params,
    help="submitit parameters of each job, key=value pairs: timeout_min, gpus_per_node, "
    "cpus_per_task, mem_gb, slurm_partition, slurm_account, ... (docs/studies.md).",
)
def run_study_command(
    study_file: Path,
    params: dict,
    force: bool,
    dry_run: bool,
    executor: str,
    jobs: int,
    resources: dict,
) -> None:
    """Run every seed of STUDY_FILE (`seeds: [0, 1, 2]` + a `kedro run --config` section; with
    `variants:`, every variant with every seed), skipping finished ones, then aggregate them:
    mean ± std tables, learning curves."""
    from cxr_synth.study.runner import run_study

    project = find_kedro_project(Path.cwd()) or Path.cwd()
    result = run_study(
        project, study_file, params=params, force=force, dry_run=dry_run, executor=executor,
        jobs=jobs, resources=resources,
    )  # fmt: skip
    if result.slurm_jobs:
        click.echo(
            f"study {result.study.name}: Slurm jobs {', '.join(result.slurm_jobs)} submitted (the "
            f"last is the summary); logs in logs/studies/{result.study.name}/"
        )
    runs = result.seed_runs.items()  # seed by seed, variants in file order
    runs = runs if result.study.variants else sorted(runs)
    seeds = ", ".join(f"{_key(key)}: {run_id}" for key, run_id in runs)
    click.echo(f"study {result.study.name}: seed runs {{{seeds}}}")
    if result.skipped:
        skipped = [_key(key) for key in result.skipped] if result.study.variants else result.skipped
        click.echo(f"skipped (already finished): {skipped}")
    if result.summary_run:
        click.echo(
            f"summary: MLflow run {result.summary_run}, "
            f"data/08_reporting/studies/{result.study.name}/"
        )


@cli.command("generate")
@click.argument("source")
@click.option(
    "--n", "n", type=click.IntRange(min=1, max=MAX_IMAGES), required=True,
    help=f"Number of images (at most {MAX_IMAGES:,} a call: they are held in memory; call again "
    "with another --seed for more, numbers continue).",
)  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Noise seed.")
@click.option("--truncation-psi", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="StyleGAN truncation (1 = none); ignored by the other generators.")  # fmt: skip
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N, mps.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the PNGs (created; existing files and those of concurrent calls are never "
    "overwritten: new ones get fresh numbers).",
)
def generate_command(
    source: str, n: int, seed: int, truncation_psi: float, batch_size: int, device: str, out: Path
) -> None:
    """Write N synthetic PNGs from SOURCE: a model folder (data/06_models/<arch>/), an MLflow
    model URI (runs:/<run_id>/<arch>_generator, models:/<name>/<version>; the tracking server
    from MLFLOW_TRACKING_URI) or a training checkpoint."""
    from cxr_synth.sharing.generator import write_pngs
    from cxr_synth.sharing.sources import generate

    _check_out(out)
    try:
        images = generate(
            source, n, seed, truncation_psi=truncation_psi, batch_size=batch_size, device=device
        )
    except UserError as error:
        raise click.ClickException(str(error)) from None
    paths = write_pngs(images, out)
    click.echo(f"{len(paths)} images in {out}: {paths[0].name} ... {paths[-1].name}")


def _check_out(out: Path) -> None:
    """Refuse, before any sampling, an ``--out`` that cannot become a folder of new files."""
    found = nearest_existing(out.absolute())
    problem = "a file, not a folder" if not found.is_dir() else "not writable"
    if not found.is_dir() or not os.access(found, os.W_OK):
        raise click.BadParameter(f"{out}: {found} is {problem}", param_hint="'--out'")
