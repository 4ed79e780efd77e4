"""Where a study's (variant, seed) runs execute: ``local`` (N processes on this machine) or
``slurm`` (a job array, the summary as a job that depends on it), both through submitit
(https://github.com/facebookincubator/submitit); ``sequential`` (one process) is
``cxr_synth.study.runner`` itself.

Every job runs one seed's KedroSession in its own process with its own data folder
(``--params data_root=<project>/data/study_jobs/<study>/[<variant>/]seed<k>``): its own run lock,
its own atomic outputs, its own demo data. All jobs log to the project's MLflow store. Job logs
(stdout, stderr, submitit's pickles) go to ``logs/studies/<study>/``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxr_synth.runtime.errors import UserError

logger = logging.getLogger(__name__)

EXECUTORS = ("sequential", "local", "slurm")
LOCAL_TIMEOUT_MIN = 7 * 24 * 60  # submitit's local default (2 min) would kill every real run
POLL_S = 1.0


@dataclass(frozen=True)
class SeedJob:
    """One (variant, seed) run: its runtime parameters and the tags of its MLflow runs."""

    variant: str | None
    seed: int
    params: dict[str, Any]
    tags: dict[str, str]

    @property
    def key(self) -> Any:
        return self.seed if self.variant is None else (self.variant, self.seed)

    @property
    def what(self) -> str:
        return f"seed {self.seed}" if self.variant is None else f"variant {self.variant!r} seed {self.seed}"


@dataclass
class FanOut:
    """What the parallel jobs did: MLflow run ids of the finished ones, failures with their log,
    and (Slurm) the job ids still to come."""

    run_ids: dict[Any, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # "<what>: <error> (log: <path>)"
    submitted: list[str] = field(default_factory=list)  # Slurm job ids (not waited for)


def job_data_root(project_path: Path, study: str, job: SeedJob) -> Path:
    """The data folder of one parallel job (absolute): ``data/study_jobs/<study>/[<variant>/]seed<k>``."""
    folder = project_path / "data" / "study_jobs" / study
    return (folder / job.variant if job.variant else folder) / f"seed{job.seed}"


def log_folder(project_path: Path, study: str) -> Path:
    return project_path / "logs" / "studies" / study


def make_executor(kind: str, folder: Path, name: str, options: Mapping[str, Any]) -> Any:
    """A submitit executor for ``kind`` ("local" or "slurm") with ``options`` (submitit's own
    parameter names: ``timeout_min``, ``gpus_per_node``, ``cpus_per_task``, ``mem_gb``,
    ``slurm_partition``, ...); a name submitit does not know is a :class:`UserError`."""
    import submitit

    if kind == "slurm" and not {"timeout_min", "slurm_time"} & set(options):
        raise UserError(
            "--executor slurm needs --resources timeout_min=<minutes per job>: submitit's "
            "default would end every job after 5 minutes"
        )
    executor = submitit.AutoExecutor(folder=folder, cluster=kind)
    settings = {"name": name, **({"timeout_min": LOCAL_TIMEOUT_MIN} if kind == "local" else {})}
    try:
        executor.update_parameters(**{**settings, **options})
    except (NameError, ValueError, TypeError) as error:
        raise UserError("--resources: " + " ".join(str(error).split())) from None
    return executor


def _failure(job: SeedJob, submitted: Any) -> str | None:
    """None if ``submitted`` finished well, else one line: what failed, why, where its log is."""
    error = submitted.exception()
    if error is None:
        return None
    # submitit's message: the job's traceback between "----" lines, then the log paths
    trace = str(error).split("-" * 22)
    lines = [line for line in (trace[1] if len(trace) > 2 else str(error)).splitlines() if line]
    cause = lines[-1] if lines else type(error).__name__
    return f"{job.what}: {cause} (log: {submitted.paths.stderr})"


def run_local(
    executor: Any, jobs: Sequence[SeedJob], parallel: int, run_job: Any, *args: Any
) -> FanOut:
    """At most ``parallel`` jobs at a time, ``run_job(*args, job)`` each; waits for all. A
    failed job is recorded and the others go on; Ctrl-C cancels every running job."""
    result, waiting, running = FanOut(), list(jobs), []
    try:
        while waiting or running:
            while waiting and len(running) < parallel:
                job = waiting.pop(0)
                running.append((job, executor.submit(run_job, *args, job)))
                logger.info("study job %s started (%s)", job.what, running[-1][1].job_id)
            done = [(job, sub) for job, sub in running if sub.done()]
            for job, submitted in done:
                running.remove((job, submitted))
                failure = _failure(job, submitted)
                if failure:
                    result.failures.append(failure)
                    logger.error("study job failed: %s", failure)
                else:
                    result.run_ids[job.key] = submitted.result()
                    logger.info("study job %s finished: MLflow run %s", job.what,
                                result.run_ids[job.key])  # fmt: skip
            if not done:
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        for _, submitted in running:
            submitted.cancel(check=False)
        raise
    return result


def submit_slurm(
    executor: Any,
    jobs: Sequence[SeedJob],
    parallel: int,
    run_job: Any,
    args: Sequence[Any],
    summary: Any,
    summary_args: Sequence[Any],
) -> tuple[list[Any], Any]:
    """One Slurm job array (at most ``parallel`` running at once), then the summary as a job
    that starts when the array has ended (``afterany``: a missing seed makes it fail with the
    seeds' names). Returns the submitit jobs without waiting."""
    executor.update_parameters(slurm_array_parallelism=parallel)
    with executor.batch():
        submitted = [executor.submit(run_job, *args, job) for job in jobs]
    array_ids = sorted({s.job_id.split("_")[0] for s in submitted})
    if array_ids:
        executor.update_parameters(
            slurm_additional_parameters={"dependency": "afterany:" + ":".join(array_ids)}
        )
    return submitted, executor.submit(summary, *summary_args)
