"""``train_dcgan`` under the real ``torchrun``: two processes on one node (``--standalone``), and
two nodes of one process each (the multi-node command line of docs/gpu_and_clusters.md, both
"nodes" on 127.0.0.1). Gloo on CPU; the two layouts give bit-identical models, and only rank 0
writes outputs and MLflow records."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.conftest import TINY_DEMO, end_stale_mlflow_runs, free_port, make_project, run_kedro

pytestmark = pytest.mark.slow  # five Python processes that each import torch, Kedro and MLflow

TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
TRAIN = {
    **TINY_DEMO,
    "training.loop.device": "cpu",
    "training.loop.precision": "fp32",  # not the per-machine "auto" measurement
    "training.loop.channels_last": False,
}
PARAMS = ",".join(f"{k}={v}" for k, v in TRAIN.items() if not isinstance(v, dict))
KEDRO_RUN = ["-m", "cxr_synth", "--pipelines", "train_dcgan", "--params", PARAMS]
TIMEOUT_S = 300
TIMING = ("time", "_per_s", "_hours", "wall", "seconds")  # wall-clock fields of the history
RUNS = ["dcgan", "local · train_dcgan · seed 42"]  # the kedro run's run and training's child run
# DistributedRankHook's line on ranks > 0: "rank 1: N outputs kept in memory; rank 0 writes them"
RANK1_LOG = "rank 1: "


def _launch(commands: dict[str, tuple[list[str], Path]], logs: Path) -> dict[str, str]:
    """Start every ``name: (argv, cwd)`` at once (a rendezvous needs all of them), wait for all;
    return each one's output. Fails the test on a non-zero exit or after ``TIMEOUT_S``; every
    process group it started is killed on the way out, whatever happened."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "250"}
    env.pop("KEDRO_LOGGING_CONFIG", None)  # Kedro's default logging: to the console only
    started: dict[str, subprocess.Popen] = {}
    try:
        for name, (argv, cwd) in commands.items():
            with open(logs / f"{name}.log", "wb") as log:
                started[name] = subprocess.Popen(
                    argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,  # torchrun + its workers
                )  # fmt: skip
        deadline = time.monotonic() + TIMEOUT_S
        for name, process in started.items():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} did not finish within {TIMEOUT_S} s:\n{_tail(logs, name)}")
    finally:
        for process in started.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    for name, process in started.items():
        assert process.returncode == 0, f"{name} exited {process.returncode}:\n{_tail(logs, name)}"
    return {name: (logs / f"{name}.log").read_text(errors="replace") for name in started}


def _tail(logs: Path, name: str) -> str:
    return (logs / f"{name}.log").read_text(errors="replace")[-6000:]


def _copy(prepared: Path, to: Path) -> Path:
    """A copy of the prepared project (its data, not its MLflow store)."""
    shutil.copytree(prepared, to, ignore=shutil.ignore_patterns("mlflow.db", "mlruns"))
    return to


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under ``folder`` but the log (``info.log`` of
    conf/logging.yml, which every process appends to)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and p.name != "info.log"
    }


def _runs(folder: Path) -> list[str]:
    """The names of the MLflow runs in the project's sqlite store (none when there is no store)."""
    if not (folder / "mlflow.db").exists():
        return []
    with sqlite3.connect(folder / "mlflow.db") as db:
        return sorted(name for (name,) in db.execute("SELECT name FROM runs"))


def _result(folder: Path) -> dict:
    """What a run produced: the trained networks and its history (wall-clock columns dropped)."""
    models = folder / "data/06_models"
    weights = {str(p.relative_to(models)): torch.load(p, weights_only=True)
               for p in sorted(models.rglob("*.pt"))}  # fmt: skip
    history = pd.read_csv(folder / "data/08_reporting/dcgan/history.csv")
    history = history[[c for c in history.columns if not any(t in c for t in TIMING)]]
    return {"weights": weights, "history": history}


def _assert_same(a: dict, b: dict) -> None:
    assert a["weights"].keys() == b["weights"].keys()
    differing = [name for name in a["weights"] if not _same(a["weights"][name], b["weights"][name])]
    assert differing == []
    pd.testing.assert_frame_equal(a["history"], b["history"])


def _same(x, y) -> bool:
    """Equal bit for bit: tensors, and dicts / lists of them (state dicts, checkpoints); timings
    excepted."""
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y)
    if isinstance(x, dict):  # a checkpoint's history: wall-clock fields aside
        if not isinstance(y, dict) or x.keys() != y.keys():
            return False
        return all(_same(x[k], y[k]) for k in x if not any(t in str(k) for t in TIMING))
    if isinstance(x, (list, tuple)):
        return type(x) is type(y) and len(x) == len(y) and all(map(_same, x, y))
    return x == y


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Iterator[Path]:
    """A project with the tiny demo data ingested and preprocessed (in this process)."""
    path = make_project(tmp_path_factory.mktemp("torchrun") / "prepared")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)
        try:
            run_kedro(path, ["ingestion", "preprocessing"], params=TINY_DEMO)
        finally:
            end_stale_mlflow_runs()
    yield path


@pytest.fixture(scope="module")
def standalone(prepared) -> dict:
    """``torchrun --standalone --nproc-per-node 2`` of ``train_dcgan``, as docs/training.md."""
    folder = _copy(prepared, prepared.parent / "standalone")
    command = [TORCHRUN, "--standalone", "--nproc-per-node", "2", *KEDRO_RUN]
    output = _launch({"standalone": (command, folder)}, prepared.parent)["standalone"]
    return {"folder": folder, "output": " ".join(output.split()), **_result(folder)}


def test_standalone_two_processes_write_one_set_of_outputs(standalone):
    assert _runs(standalone["folder"]) == RUNS  # one set of MLflow runs for the job: rank 0's
    assert RANK1_LOG in standalone["output"]  # rank 1 ran the pipeline, kept its outputs in memory
    assert "dcgan/generator.pt" in standalone["weights"]
    assert len(standalone["history"]) > 0


def test_two_nodes_give_the_standalone_model_and_only_rank_0_writes(prepared, standalone):
    """The multi-node line of docs/gpu_and_clusters.md with two local "nodes", each in its own
    copy of the project: node 0 must write everything, node 1 nothing at all."""
    nodes = [_copy(prepared, prepared.parent / f"node{rank}") for rank in (0, 1)]
    before = [_files(node) for node in nodes]
    port = free_port()

    def node(rank: int) -> list[str]:
        return [
            TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--node-rank", str(rank),
            "--rdzv-id", "cxr-test", "--rdzv-backend", "static",
            "--rdzv-endpoint", f"127.0.0.1:{port}", *KEDRO_RUN,
        ]  # fmt: skip

    launched = {f"node{rank}": (node(rank), nodes[rank]) for rank in (0, 1)}
    output = {k: " ".join(v.split()) for k, v in _launch(launched, prepared.parent).items()}

    # --node-rank is honoured: node 1's process is RANK 1 (it kept its outputs in memory).
    assert RANK1_LOG in output["node1"] and RANK1_LOG not in output["node0"]
    # Node 1 wrote no file (outputs, checkpoints, mlflow.db, mlruns/, .viz/) and changed none;
    # only its log (conf/logging.yml's info.log, where every process logs) grew.
    assert _files(nodes[1]) == before[1]
    assert _runs(nodes[0]) == RUNS and _runs(nodes[1]) == []
    # Same global batch split over two ranks as --standalone: the same model, bit for bit.
    _assert_same(_result(nodes[0]), standalone)
