"""Fault: two `kedro run`s on one project at the same time; a lock left by a killed run."""

import json
import subprocess
import sys

import pytest

from cxr_synth.runtime.project_lock import LOCK_NAME, ProjectLock, ProjectLocked
from tests.conftest import TINY_DEMO, run_kedro

HOLD_LOCK = """
import sys, time
from cxr_synth.runtime.project_lock import ProjectLock
ProjectLock(sys.argv[1]).acquire("kedro run --pipelines training (test holder)")
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_run_stops_at_once_naming_the_first(workdir):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(workdir / "data")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ProjectLocked, match=rf"Another kedro run .*pid {holder.pid}.*training"):
            run_kedro(workdir, ["ingestion"], params=TINY_DEMO)
        assert not (workdir / "data/01_raw/nih").exists()  # stopped before demo data and nodes
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_run_is_taken_over(workdir, caplog):
    lock = workdir / "data" / LOCK_NAME
    lock.parent.mkdir(exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    lock.write_text(json.dumps({"pid": int(dead), "started": "earlier", "run": "killed"}))
    with caplog.at_level("INFO", logger="cxr_synth.runtime.project_lock"):
        run_kedro(workdir, ["ingestion"], params=TINY_DEMO)
    assert (workdir / "data/02_intermediate/nih_manifest.parquet").exists()
    assert f"pid {dead}" in caplog.text and "taken over" in caplog.text
    ProjectLock(workdir / "data").acquire("released after the run")  # free again
