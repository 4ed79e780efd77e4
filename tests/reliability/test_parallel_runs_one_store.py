"""Runs started together against one MLflow store race to create its experiment."""

import mlflow
from mlflow import MlflowClient

from cxr_synth.runtime.tracking_server import ensure_experiment


def test_the_run_that_loses_the_race_to_create_the_experiment_goes_on(tmp_path, monkeypatch):
    """Fault seen with two `kedro study run` against one server (session 8): both looked the
    experiment up, both created it, the second died on RESOURCE_ALREADY_EXISTS. Replayed here:
    the lookup says "absent" although another run has just created it."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = MlflowClient(uri).create_experiment("cxr_synth")  # the other run won
    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", lambda self, name: None)
    ensure_experiment(uri, "cxr_synth", tags={"mlflow.experimentKind": "custom_model_development"})
    monkeypatch.undo()
    assert MlflowClient(uri).get_experiment_by_name("cxr_synth").experiment_id == first


def test_a_new_experiment_is_created_as_a_model_training_one(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_experiment(uri, "cxr_synth", tags={"mlflow.experimentKind": "custom_model_development"})
    experiment = MlflowClient(uri).get_experiment_by_name("cxr_synth")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert mlflow.get_tracking_uri() != uri  # the process-wide URI is left alone
