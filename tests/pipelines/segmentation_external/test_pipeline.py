"""segmentation_external end to end on the tiny demo study: the saved U-Nets of every method on
the external set (by default the demo lung-mask folder itself), nothing retrained."""

import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest

from cxr_synth.models.registry import ARCHITECTURES, CONDITIONAL_ARCHITECTURES
from cxr_synth.pipelines.segmentation_external import create_pipeline
from tests.conftest import TINY_STUDY, TINY_STUDY_RUN, end_stale_mlflow_runs, run_kedro

METHODS = ("none", "classic", *ARCHITECTURES, *CONDITIONAL_ARCHITECTURES)


def test_registered_apart_from_the_default_run():
    from cxr_synth.pipeline_registry import register_pipelines

    pipelines = register_pipelines()
    external = {n.name for n in pipelines["segmentation_external"].nodes}
    assert {f"segmentation_external.{m}.evaluate_external" for m in METHODS} <= external
    assert not external & {n.name for n in pipelines["__default__"].nodes}
    baselines = {n.name for n in pipelines["segmentation_external_baselines"].nodes}
    assert {n for n in baselines if n.endswith("evaluate_external")} == {
        "segmentation_external.none.evaluate_external",
        "segmentation_external.classic.evaluate_external",
    }
    assert {f"{m}_unets" for m in METHODS} <= create_pipeline().inputs()


def test_saved_unets_of_every_method_score_the_external_set(tiny_study, tmp_path, monkeypatch):
    work = tmp_path / "study"  # a copy: the shared study stays read-only
    shutil.copytree(tiny_study, work, ignore=shutil.ignore_patterns("mlflow.db", "mlruns"))
    # Its own MLflow store, by absolute URI (MLflow caches the store of "sqlite:///mlflow.db",
    # and the copied store's experiment would point at the shared study's artifact folder).
    (work / "conf/local/mlflow.yml").write_text(
        f"server: {{mlflow_tracking_uri: 'sqlite:///{work / 'mlflow.db'}'}}\n"
    )
    monkeypatch.chdir(work)
    try:
        run_kedro(work, ["segmentation_external"], params=TINY_STUDY)
    finally:
        end_stale_mlflow_runs()

    summary = pd.read_csv(work / "data/08_reporting/segmentation_external/summary.csv")
    main_images = np.load(work / "data/05_model_input/seg_images.npy")
    external = np.load(work / "data/05_model_input/seg_external_images.npy")
    np.testing.assert_array_equal(external, main_images)  # same demo folder, same preprocessing
    assert summary["method"].tolist() == list(METHODS)
    assert (summary["n_images"] == len(external)).all() and (summary["n_seeds"] == 2).all()
    assert (summary["dataset"] == "demo_montgomery").all()
    assert summary["dice_mean"].between(0, 1).all()
    assert (
        "demo_montgomery"
        in (work / "data/08_reporting/segmentation_external/summary.md").read_text()
    )

    # the saved weights are the trained networks: on the images both runs scored, same Dice
    seg_dir = work / "data/08_reporting"
    for method in ("none", "dcgan"):
        trained = pd.read_csv(seg_dir / f"segmentation/{method}_runs.csv")
        saved = pd.read_csv(seg_dir / f"segmentation_external/{method}_runs.csv")
        assert saved["image"].str.fullmatch(r"img\d{5}").all()  # pseudonyms only
        both = trained.merge(saved, on=["seed", "image"], suffixes=("_trained", "_saved"))
        assert len(both) == len(trained)
        np.testing.assert_allclose(both["dice_saved"], both["dice_trained"], rtol=1e-6)

    previous = mlflow.get_tracking_uri()  # process-global: restored below for later tests
    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["cxr_synth"])
    assert len(runs) == 1  # one run, no child runs: nothing was trained
    evaluation = runs.iloc[0]
    by_method = summary.set_index("method")
    for method in METHODS:
        logged = evaluation[f"metrics.seg_external.{method}.dice"]
        assert logged == pytest.approx(by_method.loc[method, "dice_mean"], rel=1e-12)
    artifacts = mlflow.MlflowClient().list_artifacts(evaluation["run_id"], "segmentation_external")
    assert "segmentation_external/summary.csv" in {a.path for a in artifacts}

    mlflow.set_tracking_uri(f"sqlite:///{tiny_study / 'mlflow.db'}")  # read only: the U-Nets
    study = mlflow.search_runs(
        experiment_names=["cxr_synth"], filter_string=f"tags.mlflow.runName = '{TINY_STUDY_RUN}'"
    )
    artifacts = mlflow.MlflowClient().list_artifacts(study["run_id"].iloc[0], "segmentation/none")
    mlflow.set_tracking_uri(previous)
    assert {"segmentation/none/unets.pt", "segmentation/none/unet_spec.json"} <= {
        a.path for a in artifacts
    }
