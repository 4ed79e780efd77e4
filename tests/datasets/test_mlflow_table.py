import json

import mlflow
import pandas as pd

from cxr_synth.datasets import MlflowTableDataset


def _dataset(tmp_path):
    return MlflowTableDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(tmp_path / "t.csv"),
                 "save_args": {"index": False}},
        artifact_file="tables/t.json",
    )  # fmt: skip


def test_a_table_saved_in_a_run_is_a_file_and_an_mlflow_table(tmp_path):
    frame = pd.DataFrame({"architecture": ["dcgan", "ddpm"], "FD_rand": [1.5, float("nan")]})
    previous = mlflow.get_tracking_uri()  # process-global: later tests must not log here
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.MlflowClient().create_experiment("tables")  # not the active one
        with mlflow.start_run(experiment_id=experiment) as run:
            _dataset(tmp_path).save(frame)
        client = mlflow.MlflowClient()
        logged = json.loads(client.get_run(run.info.run_id).data.tags["mlflow.loggedArtifacts"])
        path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="tables/t.json")
    finally:
        mlflow.set_tracking_uri(previous)
    assert logged == [{"path": "tables/t.json", "type": "table"}]
    assert json.loads(open(path).read())["data"] == [["dcgan", 1.5], ["ddpm", None]]
    pd.testing.assert_frame_equal(_dataset(tmp_path).load(), frame)


def test_without_a_run_the_table_is_only_the_file(tmp_path):
    frame = pd.DataFrame({"a": [1]})
    assert mlflow.active_run() is None
    _dataset(tmp_path).save(frame)
    assert _dataset(tmp_path).exists() and (tmp_path / "t.csv").is_file()
