"""kedro-viz sees every pipeline, with layers (a static build: no server, no network)."""

import json
import os
import subprocess
import sys

from cxr_synth.pipeline_registry import register_pipelines


def test_kedro_viz_build_lists_every_pipeline(workdir):
    env = {**os.environ, "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    main = json.loads((workdir / "build/api/main").read_text())
    assert {p["id"] for p in main["pipelines"]} == set(register_pipelines())
    layers = {node["layer"] for node in main["nodes"] if node["type"] == "data"}
    assert {"raw", "intermediate", "model_input", "models", "reporting"} <= layers
