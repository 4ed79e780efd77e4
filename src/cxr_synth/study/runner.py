"""Multi-seed studies: one ``kedro run`` (KedroSession) per seed, then the ``study_summary``.

The study file (its format, loading and checks) is ``cxr_synth.study.file``.

``kedro study run FILE`` (``cxr_synth.cli``), for every seed k:

- merges the file's ``run.params``, the command line's ``--params`` (key by key, unlike
  ``kedro run --config FILE --params``) and the seed overrides (``SEED_PARAMETERS`` = k;
  checkpoints under ``<checkpoint_root>/study_<name>/seed<k>``);
- runs the file's pipelines in one KedroSession whose MLflow runs are tagged
  ``cxr_synth.study=<name>``, ``cxr_synth.study_role=seed``, ``cxr_synth.study_seed=k`` and
  ``cxr_synth.study_config=<hash of the file's settings>``;
- skips a seed whose tagged run already FINISHED with the same configuration (``force`` reruns).

With ``variants:``, every variant runs with every seed (seed by seed: all variants of the first
seed, then the next seed), each run tagged ``cxr_synth.study_variant=<variant>`` too, with the
configuration hash of its own merged settings, so a rerun skips the finished (variant, seed)
pairs.

Every seed overwrites ``data/`` (the last seed's files stay); MLflow keeps every seed. Last,
``study_summary`` reads the seed runs back from MLflow (``MlflowStudyDataset``) in its own
MLflow run, tagged ``cxr_synth.study_role=summary``, which holds the aggregate.

``executor="local"`` or ``"slurm"`` runs the (variant, seed) runs as parallel jobs instead, each
with a data folder of its own (``cxr_synth.study.executors``); a failed job does not stop the
others, and the summary runs once all have ended (Slurm: as a job of its own).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxr_synth.runtime.errors import UserError
from cxr_synth.study.executors import (
    EXECUTORS,
    FanOut,
    SeedJob,
    job_data_root,
    log_folder,
    make_executor,
    run_local,
    submit_slurm,
)
from cxr_synth.study.file import (
    SUMMARY_PIPELINE,
    Study,
    check_config,
    check_variants,
    load_study,
    merge,
    seed_overrides,
)
from cxr_synth.study.mlflow_runs import (
    ATTEMPT_TAG,
    CONFIG_TAG,
    PARENT_TAG,
    ROLE_TAG,
    SEED_TAG,
    STUDY_TAG,
    VARIANT_TAG,
    finished_study_runs,
)

logger = logging.getLogger(__name__)


@dataclass
class StudyResult:
    """What ``run_study`` did: MLflow run ids per seed, the summary's run id, skipped seeds.

    Keys are seeds, or ``(variant, seed)`` pairs in a study with variants.
    """

    study: Study
    seed_runs: dict[Any, str] = field(default_factory=dict)
    skipped: list[Any] = field(default_factory=list)
    summary_run: str | None = None
    slurm_jobs: list[str] = field(default_factory=list)  # submitted, not waited for: seeds, summary


@contextlib.contextmanager
def _tagged_runs(tags: Mapping[str, str]) -> Iterator[None]:
    """Every MLflow run created inside carries ``tags`` (MLflow's ``MLFLOW_RUN_CONTEXT``)."""
    previous = os.environ.get("MLFLOW_RUN_CONTEXT")
    os.environ["MLFLOW_RUN_CONTEXT"] = json.dumps(dict(tags))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_RUN_CONTEXT", None)
        else:
            os.environ["MLFLOW_RUN_CONTEXT"] = previous


def _end_stale_runs(status: str) -> None:
    """kedro-mlflow ends its run in the store, but MLflow's in-process stack can keep an entry;
    without this the next seed's session would log into the previous seed's run."""
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run(status)


def _session(project_path: Path, study: Study, params: Mapping[str, Any]):
    from kedro.framework.session import KedroSession

    return KedroSession.create(
        project_path=project_path,
        env=study.env,
        conf_source=study.conf_source,
        runtime_params=dict(params),
    )


def _inspect(project_path: Path, study: Study) -> tuple[dict[str, Any], Any]:
    """The project's merged parameters and an MLflow client for its tracking store (the URI
    as the run hooks anchor it: a relative sqlite file lives in the project)."""
    from mlflow import MlflowClient

    with _session(project_path, study, study.params) as session:
        context = session.load_context()
        config = dict(context.config_loader["parameters"])  # plain dicts, runtime params merged
        mlflow_config = getattr(context, "mlflow", None)
        if mlflow_config is None:
            raise UserError(
                "kedro-mlflow is not active in this project, so the seed runs could not be "
                "recorded; a study needs it (conf/base/mlflow.yml, docs/studies.md)."
            )
        client = MlflowClient(mlflow_config.server.mlflow_tracking_uri)
    return config, client


def _parent_run_id(client: Any, study: Study, tags: Mapping[str, str]) -> str | None:
    """The parent run this process's session logged: found by its tags, which include an
    attempt id of its own (another copy of the project may run the same study and seed, and a
    killed attempt may be newer)."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = client.search_runs(
        experiments, query, max_results=50, order_by=["attributes.start_time DESC"]
    )
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    return parents[0].info.run_id if parents else None


def _run_session(
    project_path: Path,
    study: Study,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    run_options: Mapping[str, Any],
    *,
    failed: str,
    note: str = "",
) -> None:
    """One KedroSession run whose MLflow runs carry ``tags``, ended FINISHED, FAILED or (Ctrl-C)
    KILLED. The one place a run's failure becomes the study's :class:`UserError`:
    "Study '<name>': <failed> (<error>). <note> Finished runs are skipped when you rerun …"."""
    _end_stale_runs("FAILED")
    try:
        with _tagged_runs(tags), _session(project_path, study, params) as session:
            session.run(**run_options)
    except KeyboardInterrupt:
        # Kedro leaves the run open on Ctrl-C and MLflow's exit handler would end it
        # FINISHED: a rerun would skip this seed as done.
        _end_stale_runs("KILLED")
        raise
    except Exception as err:
        _end_stale_runs("FAILED")
        rerun = (f"Finished runs are skipped when you rerun `kedro study run {study.path}` after "
                 "fixing the cause.")  # fmt: skip
        what = f"Study '{study.name}': {failed} ({type(err).__name__}: {err})."
        raise UserError(" ".join(filter(None, (what, note, rerun)))) from err
    _end_stale_runs("FINISHED")


def _finished(result: StudyResult) -> str:
    """The finished runs so far: "seeds [0, 1]" or "4 (variant, seed) runs"."""
    if result.study.variants:
        return f"{len(result.seed_runs)} (variant, seed) runs"
    return f"seeds {sorted(result.seed_runs)}"


def _summarise(
    project_path: Path, study: Study, client: Any, finished: str = "seed runs"
) -> str | None:
    """The ``study_summary`` session over the study's seed runs; its MLflow run id."""
    selection: dict[str, Any] = {"name": study.name, "seeds": list(study.seeds)}
    if study.variants:
        selection["variants"] = list(study.variants)
    summary_params = merge(study.params, {"study": selection})
    tags = {STUDY_TAG: study.name, ROLE_TAG: "summary", CONFIG_TAG: study.config_hash,
            ATTEMPT_TAG: uuid.uuid4().hex}  # fmt: skip
    failed = f"the {finished} finished, but the {SUMMARY_PIPELINE} pipeline failed"
    _run_session(project_path, study, summary_params, tags,
                 {"pipeline_names": [SUMMARY_PIPELINE]}, failed=failed)  # fmt: skip
    run_id = _parent_run_id(client, study, tags)
    logger.info("study %s: summary in MLflow run %s (data/08_reporting/studies/%s/)",
                study.name, run_id, study.name)  # fmt: skip
    return run_id


def _client(project_path: Path, study: Study) -> Any:
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project_path)
    return _inspect(project_path, study)[1]


def run_seed_job(project_path: Path, study: Study, job: SeedJob) -> str:
    """One parallel job (in its own process): ``job``'s session; its parent run's id. ``study``
    travels with the job as it was when submitted (an edited file does not change it)."""
    client = _client(project_path, study)
    _run_session(project_path, study, job.params, job.tags, study.run_options,
                 failed=f"{job.what} failed")  # fmt: skip
    return _parent_run_id(client, study, job.tags) or "?"


def run_summary_job(project_path: Path, study: Study) -> str:
    """The summary as a job of its own (after a Slurm array); its MLflow run id."""
    return _summarise(project_path, study, _client(project_path, study)) or "?"


def _pending(study: Study, config: Mapping[str, Any], finished: Mapping[Any, Any],
             result: StudyResult) -> list[SeedJob]:  # fmt: skip
    """The (variant, seed) runs still to do; finished ones go into ``result`` as skipped (a
    finished run with another configuration stops the study)."""
    jobs = []
    for variant, seed in study.runs:
        config_hash = study.variant_hash(variant)
        tags = {STUDY_TAG: study.name, ROLE_TAG: "seed", SEED_TAG: str(seed),
                CONFIG_TAG: config_hash, ATTEMPT_TAG: uuid.uuid4().hex}  # fmt: skip
        if variant is not None:
            tags[VARIANT_TAG] = variant
        job = SeedJob(variant, seed, seed_overrides(study, seed, config, variant), tags)
        done = finished.get((variant, seed))
        if done is None:
            jobs.append(job)
            continue
        used = done.data.tags.get(CONFIG_TAG)
        if used != config_hash:
            raise UserError(
                f"Study '{study.name}': {job.what} already finished (MLflow run "
                f"{done.info.run_id}) with another configuration ({used}, now "
                f"{config_hash}). Add --force to rerun every seed, or rename the study "
                "(`study_name:` in the file) to keep both."
            )
        logger.info("study %s: %s already finished (MLflow run %s), skipped",
                    study.name, job.what, done.info.run_id)  # fmt: skip
        result.seed_runs[job.key] = done.info.run_id
        result.skipped.append(job.key)
    return jobs


def _run_sequentially(project_path: Path, study: Study, client: Any, jobs: list[SeedJob],
                      result: StudyResult) -> None:  # fmt: skip
    for job in jobs:
        logger.info("study %s: %s starts", study.name, job.what)
        so_far = "No seed has finished."
        if result.seed_runs:
            so_far = f"The {_finished(result)} are finished."
        _run_session(project_path, study, job.params, job.tags, study.run_options,
                     failed=f"{job.what} failed", note=so_far)  # fmt: skip
        result.seed_runs[job.key] = _parent_run_id(client, study, job.tags) or "?"
        logger.info("study %s: %s finished, MLflow run %s", study.name, job.what,
                    result.seed_runs[job.key])  # fmt: skip


def _in_own_folders(project_path: Path, study: Study, jobs: list[SeedJob]) -> list[SeedJob]:
    """``jobs`` with a data folder each (``--params data_root=...``), created empty."""
    placed = []
    for job in jobs:
        root = job_data_root(project_path, study.name, job)
        root.mkdir(parents=True, exist_ok=True)
        placed.append(SeedJob(job.variant, job.seed, {**job.params, "data_root": str(root)},
                              job.tags))  # fmt: skip
    return placed


def run_study(
    project_path: str | Path,
    study_file: str | Path,
    *,
    params: Mapping[str, Any] | None = None,
    force: bool = False,
    dry_run: bool = False,
    executor: str = "sequential",
    jobs: int = 1,
    resources: Mapping[str, Any] | None = None,
) -> StudyResult:
    """Run every seed (and variant) of ``study_file``, one KedroSession each, then ``study_summary``.

    ``params``: nested runtime parameters merged over the file's (``kedro study run --params``);
    a variant's overrides are merged over both. (variant, seed) pairs already finished with the
    same configuration are skipped unless ``force``. ``dry_run`` only plans.

    ``executor``: ``sequential`` (this process; a failed run stops the study with a
    :class:`UserError` naming it), ``local`` (``jobs`` processes at a time on this machine) or
    ``slurm`` (a job array, ``jobs`` at a time, and a dependent summary job; returns once they are
    submitted, their ids in ``slurm_jobs``). ``resources``: submitit parameters of each job
    (``timeout_min``, ``gpus_per_node``, ``slurm_partition``, ...). Parallel jobs that fail are
    listed, with their logs, in one :class:`UserError` after the others have ended.
    """
    from kedro.framework.startup import bootstrap_project

    if executor not in EXECUTORS:
        raise UserError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    study = load_study(study_file, params)
    config, client = _inspect(project_path, study)
    check_config(study, config)
    check_variants(study, config)
    result = StudyResult(study)
    finished = {} if force else finished_study_runs(client, study.name)
    if study.variants:
        logger.info("study %s: variants %s x seeds %s, configurations %s", study.name,
                    list(study.variants), list(study.seeds),
                    {v: study.variant_hash(v) for v in study.variants})  # fmt: skip
    else:
        logger.info("study %s: seeds %s, configuration %s", study.name, list(study.seeds),
                    study.config_hash)  # fmt: skip
    todo = _pending(study, config, finished, result)
    if dry_run:
        for job in todo:
            logger.info("study %s: %s would run with %s", study.name, job.what, job.params)
        return result
    if executor == "sequential":
        _run_sequentially(project_path, study, client, todo, result)
        result.summary_run = _summarise(project_path, study, client, _finished(result))
        return result

    todo = _in_own_folders(project_path, study, todo)
    pool = make_executor(executor, log_folder(project_path, study.name), f"study-{study.name}",
                         resources or {})  # fmt: skip
    logger.info("study %s: %d run(s) as %s jobs, %d at a time; logs in %s", study.name,
                len(todo), executor, jobs, log_folder(project_path, study.name))  # fmt: skip
    if executor == "slurm":
        submitted, summary = submit_slurm(
            pool, todo, jobs, run_seed_job, (project_path, study), run_summary_job,
            (project_path, study),
        )  # fmt: skip
        result.slurm_jobs = [s.job_id for s in submitted] + [summary.job_id]
        return result
    fan_out: FanOut = run_local(pool, todo, jobs, run_seed_job, project_path, study)
    result.seed_runs.update(fan_out.run_ids)
    if fan_out.failures:
        raise UserError(
            f"Study '{study.name}': {len(fan_out.failures)} of {len(todo)} job(s) failed; the "
            f"{_finished(result)} are finished and are skipped when you rerun. "
            + "; ".join(fan_out.failures)
        )
    result.summary_run = _summarise(project_path, study, client, _finished(result))
    return result
