"""A generator as an MLflow pyfunc model: logged, registered, loaded in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cxr_synth.sharing import generate
from cxr_synth.sharing.generator import weights_digest
from cxr_synth.sharing.pyfunc import log_generator_model, signature
from tests.conftest import end_stale_mlflow_runs
from tests.sharing.test_sources import tiny_generator

FRESH_PROCESS = textwrap.dedent(
    """
    import sys, numpy as np, mlflow
    model = mlflow.pyfunc.load_model(sys.argv[1])
    images = model.predict({"n": 4, "seed": 1, "truncation_psi": 1.0}, params={"device": "cpu"})
    np.save(sys.argv[2], images)
    print(sorted(m for m in sys.modules if m.startswith("kedro")))
    """
)


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A local sqlite MLflow store under tmp_path, the working directory elsewhere than here."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("sharing")  # not an experiment id another test's store left active
    yield uri
    end_stale_mlflow_runs()
    mlflow.set_tracking_uri(None)


@pytest.fixture
def logged(tracking):
    import mlflow

    generator = tiny_generator("stylegan", {"g_width": 4, "d_width": 4, "max_width": 4,
                                            "w_dim": 8, "mapping_layers": 2})  # fmt: skip
    with mlflow.start_run() as run:
        info = log_generator_model(
            generator, "stylegan_generator", registered_model_name="cxr_synth_stylegan"
        )
    return generator, info, run.info.run_id


def test_signature_is_requests_in_uint8_images_out():
    sig = signature(tiny_generator())
    assert sig.inputs.input_names() == ["n", "seed", "truncation_psi"]
    assert [c.required for c in sig.inputs.inputs] == [True, False, False]
    (output,) = sig.outputs.inputs
    assert output.type == np.dtype(np.uint8) and output.shape == (-1, 16, 16)
    assert {p.name: p.default for p in sig.params.params} == {"batch_size": 64, "device": "auto"}


def test_fresh_process_without_the_project_predicts_the_same_images(logged, tmp_path):
    generator, info, _ = logged
    out = tmp_path / "images.npy"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEDRO")}
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, "models:/cxr_synth_stylegan/1", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"  # Kedro never imported
    images = np.load(out)
    assert images.dtype == np.uint8 and images.shape == (4, 16, 16)
    np.testing.assert_array_equal(images, generator.sample(4, 1))


def test_generate_reads_every_mlflow_uri_and_the_model_metadata(logged):
    import mlflow

    generator, info, run_id = logged
    expected = generator.sample(3, 2, truncation_psi=0.5)
    uris = (info.model_uri, f"runs:/{run_id}/stylegan_generator", "models:/cxr_synth_stylegan/1")
    for uri in uris:
        np.testing.assert_array_equal(generate(uri, 3, 2, truncation_psi=0.5), expected)
    model = mlflow.pyfunc.load_model(info.model_uri)
    assert model.metadata.metadata["cxr_synth"]["spec"]["architecture"] == "stylegan"
    two_requests = model.predict({"n": [1, 2], "seed": [2, 2]})
    one_by_one = np.concatenate([generator.sample(1, 2), generator.sample(2, 2)])
    np.testing.assert_array_equal(two_requests, one_by_one)  # one request per row
    artifacts = mlflow.artifacts.download_artifacts(info.model_uri)
    files = set(os.listdir(os.path.join(artifacts, "artifacts")))
    assert files == {"generator.pt", "generator_spec.json"}  # weights are not pickled
    mlmodel = open(os.path.join(artifacts, "MLmodel")).read()
    assert "artifact_path: stylegan_generator\n" in mlmodel and os.getcwd() not in mlmodel
    spec = json.loads(open(os.path.join(artifacts, "artifacts", "generator_spec.json")).read())
    assert spec == {**generator.spec, "weights_sha256": weights_digest(generator.state_dict)}


def test_a_model_logged_before_the_sharing_package_still_loads(tracking, monkeypatch):
    """Older models run ``from cxr_synth.pyfunc import GeneratorPyfunc`` when MLflow loads them
    (their ``generator_model.py``): that path stays (src/cxr_synth/pyfunc.py)."""
    import mlflow

    from cxr_synth.sharing import pyfunc

    old_code = pyfunc.MODEL_CODE.replace("cxr_synth.sharing.pyfunc", "cxr_synth.pyfunc")
    assert old_code != pyfunc.MODEL_CODE
    monkeypatch.setattr(pyfunc, "MODEL_CODE", old_code)
    generator = tiny_generator()
    with mlflow.start_run():
        info = log_generator_model(generator, "dcgan_generator")
    model = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(model.predict({"n": 3, "seed": 2}), generator.sample(3, 2))
    np.testing.assert_array_equal(generate(info.model_uri, 3, 2), generator.sample(3, 2))
