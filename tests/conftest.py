"""Shared fixtures. Telemetry is off for every test; real samples come from ../shared/data."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
# Tests use tiny networks: one intra-op thread avoids OpenMP spin-waiting against the other
# test processes (DDP workers, decoding pools), which made them 10-40x slower on 2 cores.
torch.set_num_threads(1)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when that sample is not on this machine."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real sample data not available: {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Iterator[Path]:
    """A throw-away Kedro project: pyproject.toml and conf/ (without the user's conf/local).

    Kedro resolves catalog paths against the project path and MLflow's sqlite store against
    the working directory, so end-to-end runs write data/, mlflow.db and mlruns/ here, never
    into the real project. ``src/`` stays empty: the installed ``cxr_synth`` package is used.
    """
    shutil.copytree(
        PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local")
    )
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "src").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    # kedro-mlflow ends its run in the store, but MLflow's in-process run stack can keep a
    # stale entry; clear it so the next session in this process starts its own run.
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


def nested(params: dict) -> dict:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``, as ``kedro run --params a.b=1`` does."""
    tree: dict = {}
    for key, value in params.items():
        *parents, leaf = key.split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return tree


def run_kedro(
    workdir: Path, pipelines: list[str], env: str | None = None, params: dict | None = None
) -> dict:
    """Run pipelines through a real KedroSession (hooks, kedro-mlflow and all) in ``workdir``.

    ``params`` are runtime parameters with dotted keys, like ``kedro run --params``.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(workdir)
    with KedroSession.create(
        project_path=workdir, env=env, runtime_params=nested(params or {})
    ) as session:
        return session.run(pipeline_names=pipelines)
