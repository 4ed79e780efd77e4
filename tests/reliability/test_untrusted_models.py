"""Fault: a model made by someone else, with code in it (a ``generator_model.py`` that starts with
a payload, a cloudpickle ``python_model.pkl`` whose ``__reduce__`` runs one, a crafted ``.pt``).
``cxr_synth.generate``, the CLI and ``synthesis.model_uri`` read the spec and weights as data and
run none of it; only MLflow's own ``mlflow.pyfunc.load_model`` executes a model's code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from cxr_synth.pipelines.synthesis.nodes import log_generator_model, select_generator
from cxr_synth.pipelines.synthesis.params import SynthesisParams
from cxr_synth.pipelines.training.params import TrainingParams
from cxr_synth.runtime.errors import UserError
from cxr_synth.sharing import generate, pyfunc
from tests.sharing.test_pyfunc import tracking  # noqa: F401  (fixture)
from tests.sharing.test_sources import tiny_generator

PAYLOAD = "import pathlib; pathlib.Path({marker!r}).write_text('pwned')\n"
INDEX = pd.DataFrame({"row": range(2), "split": ["train", "test"]})
SYNTHESIS = {"n_images": 3, "batch_size": 4, "seed": 2, "device": "cpu"}


class Payload:
    """Pickled, it runs ``PAYLOAD`` when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (PAYLOAD.format(marker=self.marker),)


@pytest.fixture
def real(tracking, tmp_path):  # noqa: F811
    """A tiny generator, its logged MLflow model downloaded to a folder, and that run's id."""
    import mlflow

    generator = tiny_generator()
    with mlflow.start_run() as run:
        info = pyfunc.log_generator_model(generator, "dcgan_generator")
    folder = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "real"))
    return generator, Path(folder), run.info.run_id


@pytest.fixture(params=["code", "pickle"])
def crafted(request, real, tmp_path):
    """A copy of the real model folder that writes ``marker`` when its code runs: the payload
    prepended to ``generator_model.py``, or a ``python_model.pkl`` the MLmodel file names."""
    generator, folder, _ = real
    marker = tmp_path / "marker"
    copy = Path(shutil.copytree(folder, tmp_path / f"crafted_{request.param}"))
    if request.param == "code":
        code = copy / "generator_model.py"
        code.write_text(PAYLOAD.format(marker=str(marker)) + code.read_text())
    else:
        (copy / "python_model.pkl").write_bytes(cloudpickle.dumps(Payload(marker)))
        mlmodel = yaml.safe_load((copy / "MLmodel").read_text())
        flavor = mlmodel["flavors"]["python_function"]
        del flavor["model_code_path"]
        flavor.update(loader_module="mlflow.pyfunc.model", python_model="python_model.pkl")
        (copy / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return generator, copy, marker


def _logged_as_artifacts(folder: Path) -> tuple[str, str]:
    """``folder`` uploaded as run artifacts ``dcgan_generator``: its runs:/ URI and run id."""
    import mlflow

    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), "dcgan_generator")
    return f"runs:/{run.info.run_id}/dcgan_generator", run.info.run_id


def _synthesis_from(uri: str):
    params = SynthesisParams.parse({**SYNTHESIS, "model_uri": {"dcgan": uri}})
    training = TrainingParams.parse({})
    return select_generator(None, None, INDEX, training, params, architecture="dcgan"), params


def test_generate_runs_no_code_of_a_model_folder(crafted):
    generator, folder, marker = crafted
    np.testing.assert_array_equal(generate(folder, 3, 2), generator.sample(3, 2))
    assert not marker.exists()


def test_the_generate_command_runs_no_code_of_a_model_folder(crafted, tmp_path):
    generator, folder, marker = crafted
    done = subprocess.run(
        [sys.executable, "-m", "cxr_synth", "generate", str(folder), "--n", "2", "--device",
         "cpu", "--out", str(tmp_path / "pngs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 2 and not marker.exists()


def test_synthesis_from_a_model_uri_runs_no_code_of_the_model(crafted):
    generator, folder, marker = crafted
    uri, _ = _logged_as_artifacts(folder)
    selected, _ = _synthesis_from(uri)
    np.testing.assert_array_equal(selected.sample(3, 2), generator.sample(3, 2))
    assert not marker.exists()


def test_a_model_folder_without_a_generator_is_refused_unrun(crafted):
    _, folder, marker = crafted
    shutil.rmtree(folder / "artifacts")
    with pytest.raises(UserError) as refused:
        generate(folder, 1)
    assert str(refused.value) == f"{folder} is an MLflow model, but not a cxr_synth generator"
    assert not marker.exists()


def test_a_crafted_weights_file_is_refused_with_the_project_line(tmp_path):
    marker, path = tmp_path / "marker", tmp_path / "generator.pt"
    torch.save(Payload(marker), path)
    line = (f"{path}: not a cxr_synth generator file, refused; never load untrusted files with "
            "weights_only=False")  # fmt: skip
    with pytest.raises(UserError) as refused:
        generate(path, 1)
    assert str(refused.value) == line
    done = subprocess.run(
        [sys.executable, "-m", "cxr_synth", "generate", str(path), "--n", "1", "--out",
         str(tmp_path / "pngs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == f"Error: {line}"
    assert "Traceback" not in done.stderr
    assert not marker.exists()


def test_the_record_names_the_run_the_tracking_store_holds(real):
    """The MLmodel file claims another run; the record keeps the one the server knows."""
    import mlflow

    _, folder, first_run = real
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel["run_id"] = first_run  # not the run that holds this copy
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    uri, run_id = _logged_as_artifacts(folder)
    mlflow.register_model(uri, "shared")
    for source in (uri, "models:/shared/1"):
        selected, params = _synthesis_from(source)
        _, record = log_generator_model(selected, params)
        assert record["source"]["source"] == source and record["source"]["run_id"] == run_id
