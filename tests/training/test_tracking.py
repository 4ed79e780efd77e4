"""Trackers: the null one, and MLflow with and without an active run."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from cxr_synth.training import MlflowTracker, NullTracker, Tracker, train_gan
from cxr_synth.training.tracking import child_run
from tests.training import Blobs, make_tiny_gan, tiny_config


def test_trackers_satisfy_the_protocol():
    assert isinstance(NullTracker(), Tracker)
    assert isinstance(MlflowTracker(), Tracker)


def test_mlflow_tracker_without_active_run_is_a_no_op(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("tracking-test")  # not an experiment id left over by another test
    assert mlflow.active_run() is None
    tracker = MlflowTracker()
    tracker.log_params({"a": 1})
    tracker.log_metrics({"x": 1.0}, step=0)
    tracker.log_image(np.zeros((4, 4), np.uint8), "samples/x.png")
    with child_run("dcgan") as tracker:
        assert isinstance(tracker, NullTracker)
    assert mlflow.active_run() is None  # no run was started behind our back


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")  # mlflow's
def test_mlflow_tracker_logs_into_the_active_run(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(tmp_path)  # artifacts go to ./mlruns
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("tracking-test")  # not an experiment id left over by another test
    try:
        with mlflow.start_run() as parent:
            with child_run("tiny") as tracker:
                assert isinstance(tracker, MlflowTracker)
                run = mlflow.active_run()
                train_gan(
                    make_tiny_gan(),
                    Blobs(),
                    tiny_config(epochs=2, log_every=2),
                    evaluate=lambda g: {"fid": 3.0},
                    tracker=tracker,
                )
                # Re-logging a parameter with another value (a resumed run) only warns.
                tracker.log_params({"train.epochs": 99})
            assert mlflow.active_run().info.run_id == parent.info.run_id  # child ended
        client = mlflow.tracking.MlflowClient()
        child = client.get_run(run.info.run_id)
        assert child.info.run_name == "tiny" and child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        data = child.data
        assert data.params["train.epochs"] == "2" and data.params["gan.name"] == "tiny"
        assert data.metrics["eval/fid"] == 3.0
        history = client.get_metric_history(run.info.run_id, "train/d_loss")
        assert [m.step for m in history] == [2, 4]
        artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "samples")]
        assert artifacts == ["samples/epoch_0001.png", "samples/epoch_0002.png"]
    finally:
        mlflow.set_tracking_uri(None)


def test_system_metrics_are_logged_only_when_switched_on(tmp_path, monkeypatch):
    """MLflow's own switch (docs/gpu_and_clusters.md): CPU and memory use of a run, sampled in a
    thread; off unless MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING is set (so off in the tests)."""
    import time

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.MlflowClient().create_experiment("system")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    try:
        ids = {}
        for switched in (False, True):
            if switched:
                monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
            with mlflow.start_run(experiment_id=experiment):
                with child_run("tiny"):
                    ids[switched] = mlflow.active_run().info.run_id
                    time.sleep(1.5)
        client = mlflow.MlflowClient()
        metrics = {s: client.get_run(i).data.metrics for s, i in ids.items()}
    finally:
        mlflow.set_tracking_uri(previous)
    assert not any(key.startswith("system/") for key in metrics[False])
    assert "system/cpu_utilization_percentage" in metrics[True]
    assert "system/system_memory_usage_megabytes" in metrics[True]
