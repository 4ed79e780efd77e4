"""Fault: the same config and seed giving a different model, or a killed run that resumes to a
different one. Everything is compared bit for bit (timings excepted)."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import TINY_STUDY, end_stale_mlflow_runs, make_project, nested, run_kedro

PIPELINES = ["ingestion", "preprocessing", "train_dcgan", "synthesize_dcgan", "evaluate_dcgan"]
TIMING = ("time", "_per_s", "_hours", "wall", "seconds")  # wall-clock fields, the only ones allowed to differ


def _untimed(table: pd.DataFrame) -> pd.DataFrame:
    return table[[c for c in table.columns if not any(t in c for t in TIMING)]]


def _weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def _assert_same_weights(a, b) -> None:
    assert a.keys() == b.keys()
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert differing == []


def _untimed_json(path) -> dict:
    flat = pd.json_normalize(json.loads(path.read_text()), sep=".").iloc[0].to_dict()
    return {k: v for k, v in flat.items() if not any(t in k for t in TIMING)}


def test_two_runs_with_one_seed_are_bit_identical(tmp_path, monkeypatch):
    outputs = []
    for name in ("first", "second"):
        workdir = make_project(tmp_path / name)
        monkeypatch.chdir(workdir)
        torch.rand(17)  # whatever ran before in this process must not matter
        np.random.rand(3)
        run_kedro(workdir, PIPELINES, params=TINY_STUDY)
        end_stale_mlflow_runs()
        outputs.append(workdir / "data")
    first, second = outputs
    _assert_same_weights(*(_weights(d / "06_models/dcgan/generator.pt") for d in outputs))
    pd.testing.assert_frame_equal(
        *(_untimed(pd.read_csv(d / "08_reporting/dcgan/history.csv")) for d in outputs)
    )
    assert (first / "07_model_output/dcgan/synthetic.npy").read_bytes() == (
        second / "07_model_output/dcgan/synthetic.npy"
    ).read_bytes()
    assert _untimed_json(first / "08_reporting/dcgan/evaluation.json") == _untimed_json(
        second / "08_reporting/dcgan/evaluation.json"
    )


KILLED_RUN = """
import json, os, signal, sys
from pathlib import Path
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
import torch
import cxr_synth.training.loop as loop
from cxr_synth.runtime.atomic import atomic_write

torch.set_num_threads(int(sys.argv[4]))  # CPU results are bit-identical at equal thread counts

real_save = loop.save_checkpoint

def dying_save(state, path):
    if Path(path).name == sys.argv[3]:  # killed by its own PID half-way through this save
        with atomic_write(path) as handle:
            handle.write(b"half a checkpoint")
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    return real_save(state, path)

loop.save_checkpoint = dying_save
bootstrap_project(sys.argv[1])
with KedroSession.create(project_path=sys.argv[1], runtime_params=json.loads(sys.argv[2])) as s:
    s.run(pipeline_names=["train_dcgan"])
"""


@pytest.mark.slow
def test_a_run_killed_mid_checkpoint_resumes_to_the_uninterrupted_model(workdir):
    params = {**TINY_STUDY, "training.loop.epochs": 4, "training.loop.eval_every": 2}
    run_kedro(workdir, ["ingestion", "preprocessing"], params=params)
    run_kedro(workdir, ["train_dcgan"], params=params)  # uninterrupted, for reference
    end_stale_mlflow_runs()
    model = workdir / "data/06_models/dcgan/generator.pt"
    history = workdir / "data/08_reporting/dcgan/history.csv"
    expected, expected_history = _weights(model), _untimed(pd.read_csv(history))
    model.unlink()

    killed = {**params, "training.checkpoint_root": "data/06_models/killed"}
    argv = [sys.executable, "-c", KILLED_RUN, str(workdir)]
    kill_at, threads = "epoch_000003.pt", str(torch.get_num_threads())
    done = subprocess.run([*argv, json.dumps(nested(killed)), kill_at, threads], cwd=workdir)
    assert done.returncode == -signal.SIGKILL
    checkpoints = sorted(os.listdir(workdir / "data/06_models/killed/dcgan"))
    assert "epoch_000002.pt" in checkpoints and "epoch_000003.pt" not in checkpoints
    assert not model.exists()  # the kill came before the final model

    run_kedro(workdir, ["train_dcgan"], params={**killed, "training.loop.resume": True})
    _assert_same_weights(_weights(model), expected)
    pd.testing.assert_frame_equal(_untimed(pd.read_csv(history)), expected_history)
