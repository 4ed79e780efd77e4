"""Project commands: ``kedro study run studies/<file>.yml`` (multi-seed studies, docs/studies.md).

Kedro adds the commands of this module's ``cli`` group to the project's ``kedro`` command.
``run`` is Kedro's own ``kedro run``, re-exported because ``python -m cxr_synth`` looks for it
here once a project ``cli.py`` exists.
"""

from __future__ import annotations

from pathlib import Path

import click
from kedro.framework.cli.project import run  # noqa: F401  (python -m cxr_synth)
from kedro.framework.cli.utils import _split_params
from kedro.utils import find_kedro_project


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
def run_study_command(study_file: Path, params: dict, force: bool, dry_run: bool) -> None:
    """Run every seed of STUDY_FILE (`seeds: [0, 1, 2]` + a `kedro run --config` section; with
    `variants:`, every variant with every seed), skipping finished ones, then aggregate them:
    mean ± std tables, learning curves."""
    from cxr_synth.study import run_study

    project = find_kedro_project(Path.cwd()) or Path.cwd()
    result = run_study(project, study_file, params=params, force=force, dry_run=dry_run)
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
