"""synthesize_<arch> through a real KedroSession: the generator is logged as an MLflow model that
a fresh process samples to the same images, and synthesis.model_uri samples it back without a
trained generator in the catalog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from tests.conftest import end_stale_mlflow_runs, run_kedro
from tests.sharing.test_sources import tiny_generator

PARAMS = {"synthesis.n_images": 6, "synthesis.batch_size": 4, "synthesis.seed": 3,
          "synthesis.device": "cpu"}  # fmt: skip
PREDICT = textwrap.dedent(
    """
    import sys, numpy as np, mlflow
    model = mlflow.pyfunc.load_model(sys.argv[1])
    np.save(sys.argv[2], model.predict({"n": 6, "seed": 3}, params={"batch_size": 4}))
    """
)


def _record(workdir) -> dict:
    return json.loads((workdir / "data/07_model_output/dcgan/synthesis_record.json").read_text())


@pytest.mark.slow
def test_logged_model_round_trip_and_synthesis_from_its_uri(workdir, tmp_path_factory):
    index = pd.DataFrame({"row": range(5), "split": ["train"] * 3 + ["test"] * 2,
                          "patient_id": [1, 2, 2, 3, 4]})  # fmt: skip
    (workdir / "data/05_model_input").mkdir(parents=True)
    index.to_parquet(workdir / "data/05_model_input/nih_images_index.parquet")
    tiny_generator(resolution=32).save(workdir / "data/06_models/dcgan")

    run_kedro(workdir, ["synthesize_dcgan"],
              params={**PARAMS, "synthesis.registered_model_name": "cxr_synth_{architecture}"})  # fmt: skip
    end_stale_mlflow_runs()
    images = np.load(workdir / "data/07_model_output/dcgan/synthetic.npy")
    assert images.shape == (6, 32, 32)
    record = _record(workdir)
    run_id = record["mlflow_run_id"]
    assert record["mlflow_model_uri"] == f"runs:/{run_id}/dcgan_generator"
    assert record["registered_model_name"] == "cxr_synth_dcgan"
    assert record["training_data"]["training"] == {"images": 3, "patients": 2}

    # A fresh process, elsewhere, with only the package: the same images from both URIs.
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
    for uri in (record["mlflow_model_uri"], "models:/cxr_synth_dcgan/1"):
        out = elsewhere / "predicted.npy"
        done = subprocess.run([sys.executable, "-c", PREDICT, uri, str(out)], cwd=elsewhere,
                              env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        np.testing.assert_array_equal(np.load(out), images)

    # No trained generator any more: synthesis samples the registered model instead.
    shutil.rmtree(workdir / "data/06_models/dcgan")
    (workdir / "data/07_model_output/dcgan/synthetic.npy").unlink()
    run_kedro(workdir, ["synthesize_dcgan"],
              params={**PARAMS, "synthesis.model_uri": {"dcgan": "models:/cxr_synth_dcgan/1"}})  # fmt: skip
    np.testing.assert_array_equal(
        np.load(workdir / "data/07_model_output/dcgan/synthetic.npy"), images
    )
    again = _record(workdir)
    assert again["source"]["source"] == "models:/cxr_synth_dcgan/1"
    assert again["source"]["run_id"] == run_id  # the run that logged it first
    assert again["registered_model_name"] is None and again["mlflow_run_id"] != run_id
    assert again["training_data"] == record["training_data"]  # travelled with the model
