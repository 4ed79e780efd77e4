"""MlflowStudyDataset: the newest finished parent run per seed of a study, and its CSV artifacts;
``optional`` and MlflowStudyFilesDataset for artifacts only some runs have."""

import json
import time

import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError

from cxr_synth.datasets import MlflowStudyDataset, MlflowStudyFilesDataset
from cxr_synth.runtime.errors import UserError, find_user_error


def _seed_run(client, experiment, tmp_path, study, seed, *, fd, status="FINISHED", role="seed"):
    """A parent run like one `kedro study run` seed: tags, a comparison table, two histories,
    and one child run carrying the same tags (as MLFLOW_RUN_CONTEXT gives it)."""
    tags = {"cxr_synth.study": study, "cxr_synth.study_role": role,
            "cxr_synth.study_seed": str(seed), "cxr_synth.study_config": "abc"}  # fmt: skip
    run = client.create_run(experiment, tags=tags, run_name="__default__")
    run_id = run.info.run_id
    folder = tmp_path / run_id
    (folder / "dcgan").mkdir(parents=True)
    (folder / "notes").mkdir()
    pd.DataFrame({"architecture": ["dcgan"], "FD_rand": [fd]}).to_csv(
        folder / "comparison_table.csv", index=False
    )
    pd.DataFrame({"epoch": [1, 2], "step": [4, 8], "fid": [None, fd]}).to_csv(
        folder / "dcgan" / "history.csv", index=False
    )
    (folder / "notes" / "readme.txt").write_text("no history here")
    client.log_artifact(run_id, str(folder / "comparison_table.csv"))
    client.log_artifact(run_id, str(folder / "dcgan" / "history.csv"), "dcgan")
    client.log_artifact(run_id, str(folder / "notes" / "readme.txt"), "notes")
    child = client.create_run(experiment, tags={**tags, "mlflow.parentRunId": run_id})
    client.set_terminated(child.info.run_id, "FINISHED")
    client.set_terminated(run_id, status)
    time.sleep(0.01)  # distinct start times: "newest" is well defined
    return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sqlite MLflow store with study 'demo': seed 0 twice (the newer one counts), seed 1,
    a failed seed 2, a summary run, and another study."""
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("cxr_synth", artifact_location=(tmp / "mlruns").as_uri())
    runs = {
        "old0": _seed_run(client, experiment, tmp, "demo", 0, fd=9.0),
        "seed0": _seed_run(client, experiment, tmp, "demo", 0, fd=1.0),
        "seed1": _seed_run(client, experiment, tmp, "demo", 1, fd=3.0),
        "failed2": _seed_run(client, experiment, tmp, "demo", 2, fd=5.0, status="FAILED"),
        "summary": _seed_run(client, experiment, tmp, "demo", 3, fd=7.0, role="summary"),
        "other": _seed_run(client, experiment, tmp, "other", 0, fd=8.0),
    }
    return uri, runs


def test_runs_table_has_the_newest_finished_parent_run_per_seed(store):
    uri, runs = store
    table = MlflowStudyDataset(study="demo", tracking_uri=uri).load()
    assert list(table["seed"]) == [0, 1]
    assert list(table["run_id"]) == [runs["seed0"], runs["seed1"]]
    assert set(table["study"]) == {"demo"} and set(table["config"]) == {"abc"}
    assert (table["duration_s"] >= 0).all()


def test_a_csv_artifact_of_every_seed_run_comes_with_seed_and_run_id(store):
    uri, runs = store
    dataset = MlflowStudyDataset(
        study="demo", artifact=["study_comparison_table.csv", "comparison_table.csv"],
        tracking_uri=uri,
    )  # fmt: skip
    table = dataset.load()
    assert list(table.columns[:2]) == ["seed", "run_id"]
    assert table.set_index("seed")["FD_rand"].to_dict() == {0: 1.0, 1: 3.0}


def test_a_folder_placeholder_loads_that_file_from_every_folder_that_has_it(store):
    uri, runs = store
    dataset = MlflowStudyDataset(
        study="demo", artifact="{architecture}/history.csv", tracking_uri=uri
    )
    table = dataset.load()
    assert set(table["architecture"]) == {"dcgan"}  # the notes/ folder has no history.csv
    assert len(table) == 4 and table.dropna()["fid"].tolist() == [1.0, 3.0]


def test_a_run_without_the_artifact_is_an_error_that_names_it(store):
    uri, runs = store
    dataset = MlflowStudyDataset(study="demo", artifact="missing.csv", tracking_uri=uri)
    with pytest.raises(DatasetError, match=r"seed 0.*missing\.csv"):
        dataset.load()


def test_no_study_name_or_no_finished_run_says_how_to_get_one(store):
    uri, _ = store
    # Kedro wraps load errors in a DatasetError; the CLI prints the UserError in its chain.
    with pytest.raises(DatasetError, match="kedro study run") as no_name:
        MlflowStudyDataset(study="", tracking_uri=uri).load()
    assert isinstance(find_user_error(no_name.value), UserError)
    with pytest.raises(DatasetError, match="No finished seed run of study 'nothing'"):
        MlflowStudyDataset(study="nothing", tracking_uri=uri).load()
    assert not MlflowStudyDataset(study="nothing", tracking_uri=uri).exists()
    assert MlflowStudyDataset(study="demo", tracking_uri=uri).exists()


def test_read_only_and_bad_patterns_are_refused(store):
    uri, _ = store
    with pytest.raises(DatasetError, match="read-only"):
        MlflowStudyDataset(study="demo", tracking_uri=uri).save(pd.DataFrame())
    with pytest.raises(DatasetError, match="placeholder"):
        MlflowStudyDataset(study="demo", artifact=["{a}/x.csv", "y.csv"])
    with pytest.raises(DatasetError, match="not valid"):
        MlflowStudyDataset(study="it's", tracking_uri=uri).load()


@pytest.fixture(scope="module")
def variant_store(tmp_path_factory):
    """Study 'abl': variants a and b, seeds 0 and 1, each run with only per-architecture
    evaluation reports (as `evaluate_<arch>` leaves them: no comparison table)."""
    tmp = tmp_path_factory.mktemp("mlflow_variants")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("cxr_synth", artifact_location=(tmp / "mlruns").as_uri())
    runs = {}
    for variant, offset in (("a", 0.0), ("b", 10.0)):
        for seed in (0, 1):
            tags = {"cxr_synth.study": "abl", "cxr_synth.study_role": "seed",
                    "cxr_synth.study_seed": str(seed), "cxr_synth.study_config": f"h{variant}",
                    "cxr_synth.study_variant": variant}  # fmt: skip
            run_id = client.create_run(experiment, tags=tags).info.run_id
            folder = tmp / run_id / "proposed"
            folder.mkdir(parents=True)
            report = {"architecture": "proposed", "backbone": "rand",
                      "metrics": {"FD_rand": offset + seed, "KID_rand_mean": 0.1},
                      "training": {"train_hours": 0.5}, "warnings": ["small N"],
                      "seconds": {"features": 3.0}}  # fmt: skip
            (folder / "evaluation.json").write_text(json.dumps(report))
            client.log_artifact(run_id, str(folder / "evaluation.json"), "proposed")
            client.set_terminated(run_id, "FINISHED")
            runs[(variant, seed)] = run_id
            time.sleep(0.01)
    return uri, runs


def test_variant_runs_come_with_a_variant_column(variant_store):
    uri, runs = variant_store
    table = MlflowStudyDataset(study="abl", tracking_uri=uri).load()
    assert list(table.columns[:3]) == ["study", "variant", "seed"]
    assert list(zip(table["variant"], table["seed"], table["run_id"], strict=True)) == [
        (v, s, runs[(v, s)]) for v, s in (("a", 0), ("a", 1), ("b", 0), ("b", 1))
    ]
    assert list(table["config"]) == ["ha", "ha", "hb", "hb"]


def test_reports_stand_in_for_a_missing_comparison_table(variant_store):
    uri, runs = variant_store
    dataset = MlflowStudyDataset(
        study="abl", tracking_uri=uri, json_sections=["metrics", "training"],
        artifact=["study_comparison_table.csv", "comparison_table.csv",
                  "{architecture}/evaluation.json"],
    )  # fmt: skip
    table = dataset.load()
    assert list(table.columns[:4]) == ["variant", "seed", "run_id", "architecture"]
    assert set(table.columns) == {"variant", "seed", "run_id", "architecture", "backbone",
                                  "FD_rand", "KID_rand_mean", "train_hours"}  # fmt: skip
    assert table.set_index(["variant", "seed"])["FD_rand"].to_dict() == {
        ("a", 0): 0.0, ("a", 1): 1.0, ("b", 0): 10.0, ("b", 1): 11.0
    }


def test_a_pattern_may_only_be_the_last_fallback():
    MlflowStudyDataset(study="demo", artifact=["x.csv", "{a}/y.json"])
    with pytest.raises(DatasetError, match="must be the last artifact"):
        MlflowStudyDataset(study="demo", artifact=["x.csv", "{a}/y.json", "z.csv"])


def _files_run(client, experiment, tmp_path, seed, variant, files):
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
def partial_store(tmp_path_factory):
    """Variant 'gan' has a comparison table and a history, 'seg' per-image Dice only."""
    tmp = tmp_path_factory.mktemp("mlflow_partial")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("cxr_synth", artifact_location=(tmp / "mlruns").as_uri())
    gan = _files_run(client, experiment, tmp, 0, "gan", {
        "comparison_table.csv": pd.DataFrame({"architecture": ["dcgan"], "FD_rand": [2.0]}),
        "dcgan/history.csv": pd.DataFrame({"epoch": [1], "step": [4], "fid": [3.0]}),
    })  # fmt: skip
    seg = _files_run(client, experiment, tmp, 0, "seg", {
        "segmentation/none_runs.csv": _dice("none", 0.8),
        "segmentation/classic_runs.csv": _dice("classic", 0.9),
        "segmentation/summary.csv": pd.DataFrame({"method": ["none"]}),  # not a _runs.csv
        "segmentation_external/none_runs.csv": _dice("none", 0.7),
    })  # fmt: skip
    return uri, gan, seg


def test_optional_a_run_without_the_artifact_adds_no_rows_instead_of_failing(partial_store):
    uri, gan, _ = partial_store
    tables = MlflowStudyDataset(
        study="demo", artifact=["comparison_table.csv", "{architecture}/evaluation.json"],
        tracking_uri=uri, optional=True,
    ).load()  # fmt: skip
    assert list(tables.columns[:3]) == ["variant", "seed", "run_id"]
    assert list(tables["run_id"]) == [gan] and list(tables["FD_rand"]) == [2.0]
    histories = MlflowStudyDataset(
        study="demo", artifact="{architecture}/history.csv", tracking_uri=uri, optional=True
    ).load()
    assert list(histories["architecture"]) == ["dcgan"]


def test_optional_no_run_with_the_artifact_loads_an_empty_frame_of_the_id_columns(partial_store):
    uri, _, _ = partial_store
    empty = MlflowStudyDataset(
        study="demo", artifact="{architecture}/nothing.csv", tracking_uri=uri, optional=True
    ).load()
    assert empty.empty and list(empty.columns) == ["variant", "seed", "run_id"]


def test_every_matching_file_of_the_folders_with_folder_and_name(partial_store):
    uri, _, seg = partial_store
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
