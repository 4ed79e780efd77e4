"""The study_summary's datasets for artifacts only some studies have (a local sqlite store)."""

import mlflow
import pandas as pd
import pytest

from cxr_synth.pipelines.study_summary.datasets import (
    MlflowStudyFilesDataset,
    OptionalMlflowStudyDataset,
)


def _seed_run(client, experiment, tmp_path, seed, variant, files):
    """A finished seed run of study 'demo' with ``files`` ({artifact path: DataFrame})."""
    tags = {"cxr_synth.study": "demo", "cxr_synth.study_role": "seed",
            "cxr_synth.study_seed": str(seed), "cxr_synth.study_variant": variant}  # fmt: skip
    run_id = client.create_run(experiment, tags=tags).info.run_id
    for path, frame in files.items():
        local = tmp_path / run_id / path
        local.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(local, index=False)
        folder = path.rsplit("/", 1)[0] if "/" in path else None
        client.log_artifact(run_id, str(local), folder)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _dice(method: str, value: float) -> pd.DataFrame:
    return pd.DataFrame({"method": method, "seed": [0, 1], "image": "a", "dice": value})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Variant 'gan' has a comparison table and a history, 'seg' per-image Dice only."""
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("cxr_synth", artifact_location=(tmp / "mlruns").as_uri())
    gan = _seed_run(client, experiment, tmp, 0, "gan", {
        "comparison_table.csv": pd.DataFrame({"architecture": ["dcgan"], "FD_rand": [2.0]}),
        "dcgan/history.csv": pd.DataFrame({"epoch": [1], "step": [4], "fid": [3.0]}),
    })  # fmt: skip
    seg = _seed_run(client, experiment, tmp, 0, "seg", {
        "segmentation/none_runs.csv": _dice("none", 0.8),
        "segmentation/classic_runs.csv": _dice("classic", 0.9),
        "segmentation/summary.csv": pd.DataFrame({"method": ["none"]}),  # not a _runs.csv
        "segmentation_external/none_runs.csv": _dice("none", 0.7),
    })  # fmt: skip
    return uri, gan, seg


def test_a_run_without_the_artifact_adds_no_rows_instead_of_failing(store):
    uri, gan, _ = store
    tables = OptionalMlflowStudyDataset(
        study="demo", artifact=["comparison_table.csv", "{architecture}/evaluation.json"],
        tracking_uri=uri,
    ).load()  # fmt: skip
    assert list(tables.columns[:3]) == ["variant", "seed", "run_id"]
    assert list(tables["run_id"]) == [gan] and list(tables["FD_rand"]) == [2.0]
    histories = OptionalMlflowStudyDataset(
        study="demo", artifact="{architecture}/history.csv", tracking_uri=uri
    ).load()
    assert list(histories["architecture"]) == ["dcgan"]


def test_no_run_with_the_artifact_loads_an_empty_frame_of_the_id_columns(store):
    uri, _, _ = store
    empty = OptionalMlflowStudyDataset(
        study="demo", artifact="{architecture}/nothing.csv", tracking_uri=uri
    ).load()
    assert empty.empty and list(empty.columns) == ["variant", "seed", "run_id"]


def test_every_matching_file_of_the_folders_with_folder_and_name(store):
    uri, _, seg = store
    dataset = MlflowStudyFilesDataset(
        folders=["segmentation", "segmentation_external"], suffix="_runs.csv", study="demo",
        tracking_uri=uri,
    )  # fmt: skip
    frame = dataset.load()
    assert list(frame.columns[:5]) == ["variant", "study_seed", "run_id", "folder", "name"]
    assert set(frame["run_id"]) == {seg} and (frame["variant"] == "seg").all()
    files = frame.groupby(["folder", "name"])["dice"].first().to_dict()
    assert files == {("segmentation", "classic"): 0.9, ("segmentation", "none"): 0.8,
                     ("segmentation_external", "none"): 0.7}  # fmt: skip
    assert list(frame["seed"].unique()) == [0, 1]  # the files' own (U-Net) seed is kept
    nothing = MlflowStudyFilesDataset(folders=["absent"], suffix=".csv", study="demo",
                                      tracking_uri=uri).load()  # fmt: skip
    assert nothing.empty and list(nothing.columns) == [
        "variant", "study_seed", "run_id", "folder", "name"
    ]  # fmt: skip
