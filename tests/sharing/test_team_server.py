"""The team path against a real `mlflow server` (artifacts through the server): a generator
logged and registered there is sampled by a fresh process that knows only the server's URL and
the model's alias, and gives the images of the local model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import mlflow
import numpy as np
import pytest

from cxr_synth.sharing.pyfunc import log_generator_model
from tests.mlflow_server import mlflow_server
from tests.sharing.test_sources import tiny_generator

FRESH_PROCESS = textwrap.dedent(
    """
    import sys, numpy as np, cxr_synth
    np.save(sys.argv[2], cxr_synth.generate(sys.argv[1], 4, seed=1))
    """
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("team_server")
    with mlflow_server(folder) as url:
        yield url, folder


def test_a_registered_generator_samples_by_alias_in_a_fresh_process(server, tmp_path):
    url, folder = server
    generator = tiny_generator()
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(url)
    try:
        experiment = mlflow.MlflowClient().create_experiment("team")
        with mlflow.start_run(experiment_id=experiment):
            log_generator_model(generator, "dcgan_generator", registered_model_name="cxr_synth_dcgan")
        mlflow.MlflowClient().set_registered_model_alias("cxr_synth_dcgan", "champion", "1")
    finally:
        mlflow.set_tracking_uri(previous)
    stored = [f for _, _, files in os.walk(folder / "artifacts") for f in files]
    assert "generator.pt" in stored  # the weights went through the server to its store
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEDRO", "MLFLOW_TRACKING"))}
    for alias in ("champion", "latest"):
        out = tmp_path / f"{alias}.npy"
        done = subprocess.run(
            [sys.executable, "-c", FRESH_PROCESS, f"models:/cxr_synth_dcgan@{alias}", str(out)],
            cwd=tmp_path, env={**env, "MLFLOW_TRACKING_URI": url}, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        np.testing.assert_array_equal(np.load(out), generator.sample(4, 1))
