"""Start-up stays light (issue #16, docs/performance.md): building the pipelines, as
``kedro registry list`` does, and a ``kedro run``'s project hooks import no torch, torchvision,
matplotlib or scipy.stats; those load in the nodes that use them.

Each check runs in a fresh interpreter: this test process has imported torch already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_project

HEAVY = ("torch", "torchvision", "matplotlib", "scipy.stats")


def imported(code: str, modules: tuple[str, ...], cwd: Path) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after running ``code``."""
    env = {**os.environ, "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    report = f"import json, sys; print(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"], cwd=cwd, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_session(project: Path, body: str) -> str:
    """Code that runs ``body`` (indented) inside a ``KedroSession`` of ``project``."""
    return (
        "from kedro.framework.session import KedroSession\n"
        "from kedro.framework.startup import bootstrap_project\n"
        f"bootstrap_project({str(project)!r})\n"
        f"with KedroSession.create(project_path={str(project)!r}) as session:\n    {body}\n"
    )


def test_building_every_pipeline_imports_no_heavy_library(tmp_path):
    """What ``kedro registry list`` does: the project settings, then every pipeline (and no
    mlflow or scipy either: only kedro-mlflow imports mlflow, which imports scipy)."""
    code = (
        "import cxr_synth.settings\n"
        "from cxr_synth.pipeline_registry import register_pipelines\n"
        "assert len(register_pipelines()) > 10"
    )
    assert imported(code, (*HEAVY, "scipy", "mlflow"), tmp_path) == []


def test_the_project_hooks_of_a_run_import_no_heavy_library(tmp_path):
    """A ``kedro run`` up to its catalog: every ``after_context_created`` hook (the parameter
    sections check, the demo-data hook, which validates every pipeline's parameters, and
    kedro-mlflow's set-up). The catalog is left out: kedro-mlflow builds every dataset of it,
    and some import torch or matplotlib (docs/performance.md)."""
    project = make_project(tmp_path)
    code = in_session(
        project, "assert session.load_context().params['demo_data'].generate_if_missing"
    )
    assert imported(code, HEAVY, project) == []


def test_a_run_whose_nodes_need_no_torch_imports_none(tmp_path):
    """The provenance hook takes its torch tags (accelerator, threads) only once a node has
    imported torch (tests/reliability/test_provenance.py: a run that trains has them)."""
    project = make_project(tmp_path)
    code = in_session(
        project,
        "session.run(pipeline_names=['demo_data'], node_names=['demo_data.make_nih_metadata'])",
    ) + (
        "import mlflow\n"
        "tags = mlflow.search_runs(experiment_names=['cxr_synth']).columns\n"
        "assert 'tags.cxr_synth.git_commit' in tags and 'tags.cxr_synth.accelerator' not in tags"
    )
    assert imported(code, ("torch", "torchvision"), project) == []
