"""Studies that fan out (`kedro study run --executor local|slurm`, cxr_synth.study.executors):
failures are reported with their log and do not stop the other jobs; the local executor gives
the per-seed results of the sequential one."""

from pathlib import Path

import pytest

from cxr_synth.runtime.errors import UserError
from cxr_synth.study.executors import SeedJob, make_executor, run_local


def square_unless_one(job: SeedJob) -> str:
    """A job for the executor: fails for seed 1."""
    if job.seed == 1:
        raise ValueError("seed 1 is broken on purpose")
    return str(job.seed**2)


def test_a_failed_job_is_reported_with_its_log_and_the_others_finish(tmp_path):
    executor = make_executor("local", tmp_path / "logs", "t", {})
    jobs = [SeedJob(None, seed, {}, {}) for seed in (0, 1, 2)]
    result = run_local(executor, jobs, 2, square_unless_one)
    assert result.run_ids == {0: "0", 2: "4"}
    (failure,) = result.failures
    assert failure.startswith("seed 1: ") and "broken on purpose" in failure
    log = Path(failure.rsplit("(log: ", 1)[1].rstrip(")"))
    assert log.is_file() and "broken on purpose" in log.read_text()


def test_an_unknown_job_resource_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(UserError, match="--resources: .*gpus_per_nod"):
        make_executor("local", tmp_path, "t", {"gpus_per_nod": 1})


def test_slurm_without_a_time_limit_is_refused_before_anything_is_submitted(tmp_path):
    with pytest.raises(UserError, match="timeout_min=<minutes per job>"):
        make_executor("slurm", tmp_path, "t", {"slurm_partition": "gpu"})
