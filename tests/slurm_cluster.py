"""A real single-node Slurm cluster for tests: munge and Slurm's daemons (Debian's `slurm-wlm`
and `munge` packages) started on this machine with a configuration, key and ports of their own
in a temp folder, found by clients through ``SLURM_CONF``, stopped by their PIDs when done.

Skips, with the reason, where it cannot start: the packages are missing (``.ci/run`` installs
them where it may), the user is not root (slurmd must be), or a daemon does not come up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

DAEMONS = ("munged", "slurmctld", "slurmd")
STARTUP_TIMEOUT_S = 60


def _config(folder: Path, host: str) -> str:
    cpus = os.cpu_count() or 1
    return "\n".join([
        "ClusterName=cxrtest", f"SlurmctldHost={host}", "SlurmUser=root", "SlurmdUser=root",
        "AuthType=auth/munge", f"AuthInfo=socket={folder / 'munge.socket'}",
        f"StateSaveLocation={folder / 'state'}", f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}", f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldPort={free_port()}", f"SlurmdPort={free_port()}",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "ReturnToService=2",
        "JobCompType=jobcomp/none", "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}", f"SlurmdLogFile={folder / 'slurmd.log'}",
        f"NodeName={host} CPUs={cpus} RealMemory=1000 State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]) + "\n"  # fmt: skip


def _kill(pid_file: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


@contextlib.contextmanager
def slurm_cluster(folder: Path) -> Iterator[dict[str, str]]:
    """Start munge + slurmctld + slurmd for ``folder``; yields the environment variables that
    point Slurm's clients (sbatch, squeue, submitit) at it."""
    missing = [d for d in (*DAEMONS, "sbatch") if shutil.which(d) is None]
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing): apt-get install "
                    "slurm-wlm munge (.ci/run does this where it runs as root)")  # fmt: skip
    if os.geteuid() != 0:
        pytest.skip("a test Slurm node needs root (slurmd runs jobs as their users)")
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    conf = folder / "slurm.conf"
    conf.write_text(_config(folder, socket.gethostname()))
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    env = {"SLURM_CONF": str(conf)}
    commands = [
        ["munged", "--force", f"--socket={folder / 'munge.socket'}", f"--key-file={key}",
         f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
         f"--seed-file={folder / 'munge.seed'}"],
        ["slurmctld", "-f", str(conf)],
        ["slurmd", "-f", str(conf)],
    ]  # fmt: skip
    try:
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30,
                                  env={**os.environ, **env})  # fmt: skip
            if done.returncode != 0:
                pytest.skip(f"{command[0]} did not start: {(done.stderr or done.stdout)[-500:]}")
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                                   env={**os.environ, **env}, timeout=30).stdout.strip()  # fmt: skip
            if state in ("idle", "mix", "alloc"):
                break
            if time.monotonic() > deadline:
                logs = "".join(p.read_text()[-800:] for p in folder.glob("slurm*.log"))
                pytest.skip(f"the test Slurm node did not become idle ({state!r}): {logs}")
            time.sleep(1)
        yield env
    finally:
        for name in ("slurmd", "slurmctld", "munged"):
            _kill(folder / f"{name}.pid")
