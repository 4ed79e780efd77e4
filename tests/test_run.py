"""End to end through Kedro's own session: demo data -> ingestion -> preprocessing -> training."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from cxr_synth.models.registry import ARCHITECTURES, CONDITIONAL_ARCHITECTURES
from tests.conftest import TINY_DEMO, run_kedro, shared_data


def test_default_run_generates_demo_data_then_ingests_and_preprocesses(tiny_study):
    workdir = tiny_study

    raw = workdir / "data/01_raw"
    assert (raw / "nih/Data_Entry_2017.csv").exists() and (raw / "nih/test_list.txt").exists()
    assert list((raw / "nih").glob("images_00*/images/*.png"))
    assert list((raw / "seg/montgomery/ManualMask/leftMask").glob("*.png"))

    manifest = pd.read_parquet(workdir / "data/02_intermediate/nih_manifest.parquet")
    assert set(manifest["finding_labels"]) == {"No Finding"}
    assert (manifest.groupby("patient_id")["split"].nunique() == 1).all()
    summary = json.loads((workdir / "data/08_reporting/ingestion_summary.json").read_text())
    assert summary["counts"]["manifest_rows"] == len(manifest)
    assert (workdir / "data/02_intermediate/nih_rejects.csv").exists()

    images = np.load(workdir / "data/05_model_input/nih_images.npy")
    index = pd.read_parquet(workdir / "data/05_model_input/nih_images_index.parquet")
    assert images.shape == (len(index), 32, 32) and images.dtype == np.uint8
    assert len(index) == len(manifest)
    masks = np.load(workdir / "data/05_model_input/seg_masks.npy")
    assert masks.shape[1:] == (32, 32) and set(np.unique(masks)) == {0, 1}

    for arch in ARCHITECTURES:
        spec = json.loads((workdir / f"data/06_models/{arch}/generator_spec.json").read_text())
        assert spec["architecture"] == arch and spec["resolution"] == 32
        assert (workdir / f"data/06_models/{arch}/generator.pt").exists()
        history = pd.read_csv(workdir / f"data/08_reporting/{arch}/history.csv")
        losses = ["g_loss"] if arch == "ddpm" else ["g_loss", "d_loss"]  # ddpm: one network
        assert np.isfinite(history[[*losses, "fid"]].to_numpy()).all()
        for figure in ("loss_curves", "fid_curve", "sample_grid"):
            assert (workdir / f"data/08_reporting/{arch}/{figure}.png").exists()

    report = (workdir / "data/08_reporting/study_report.html").read_text()
    for label, value in {"resolution (px)": 32, "epochs": 1, "batch size": 8,
                         "synthetic images per architecture": 16,
                         "evaluation backbone": "random"}.items():  # fmt: skip
        assert f"<th>{label}</th><td>{value}</td>" in report, label  # the typed values, not n/a
    assert "<td>dcgan</td>\n      <td>g_width=4, d_width=4," in report  # options, not nulls
    assert '<div class="wide"><table' in report  # wide tables scroll in their own box

    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["cxr_synth"])
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert len(parent) == 1
    run = parent.iloc[0]
    assert run["params.preprocessing.resolution"] == "32"
    assert run["metrics.ingestion_metrics.manifest_rows"] == len(manifest)
    assert run["metrics.proposed.images_per_s"] > 0
    children = runs[runs["tags.mlflow.parentRunId"] == run["run_id"]]
    paired = (*ARCHITECTURES, *CONDITIONAL_ARCHITECTURES)  # image+mask GANs (mask2image: mask in)
    gans = [*ARCHITECTURES, *(f"pairs_{a}" for a in paired)]  # NIH images; image+mask
    unets = [f"unet.{m}.seed{s}" for m in ("none", "classic", *paired) for s in (0, 1)]
    assert sorted(children["tags.mlflow.runName"]) == sorted(gans + unets)
    trained = children[children["tags.mlflow.runName"].isin(gans)]
    assert (
        trained["metrics.train/g_loss"].notna().all() and trained["metrics.eval/fid"].notna().all()
    )
    segmented = children[children["tags.mlflow.runName"].isin(unets)]
    assert segmented["metrics.test/dice"].between(0, 1).all()
    artifacts = mlflow.MlflowClient().list_artifacts(run["run_id"], "dcgan")
    assert {"dcgan/generator.pt", "dcgan/loss_curves.png"} <= {a.path for a in artifacts}


def test_nih_env_never_generates_phantoms(workdir):
    with pytest.raises(Exception, match="nih_download|does not exist|No such file"):
        run_kedro(workdir, ["ingestion"], env="nih")
    assert not (workdir / "data/01_raw/nih_download").exists()


@pytest.mark.shared_data
def test_real_nih_sample_and_lung_masks(workdir):
    nih, seg = shared_data("nih"), shared_data("seg", "shenzhen")
    (workdir / "conf/nih/globals.yml").write_text(
        f"nih_root: {nih}\nnih_metadata_file: Data_Entry_2017_v2020.csv.gz\nseg_root: {seg}\n"
    )
    run_kedro(
        workdir, ["ingestion", "preprocessing"], env="nih", params={"preprocessing.resolution": 64}
    )

    summary = json.loads((workdir / "data/08_reporting/ingestion_summary.json").read_text())[
        "counts"
    ]
    assert summary["rows_in_csv"] == 112_120 and summary["after_finding_labels"] == 60_361
    assert summary["with_image_on_disk"] >= 576  # a partial download: most rows have no image
    assert (
        summary["rejected_image_missing"]
        == summary["after_genders"] - summary["with_image_on_disk"]
    )
    manifest = pd.read_parquet(workdir / "data/02_intermediate/nih_manifest.parquet")
    assert (manifest.groupby("patient_id")["split"].nunique() == 1).all()
    assert {"train", "val", "test"} <= set(manifest["split"])

    images = np.load(workdir / "data/05_model_input/nih_images.npy")
    assert images.shape == (len(manifest), 64, 64)
    assert 60 < images.mean() < 200  # real radiographs, not blank frames
    seg_masks = np.load(workdir / "data/05_model_input/seg_masks.npy")
    assert len(seg_masks) == 400 and 0.1 < seg_masks.mean() < 0.5  # lungs cover a fair share


def test_registry_lists_every_pipeline_and_the_default_is_the_study():
    from cxr_synth.pipeline_registry import register_pipelines

    pipelines = register_pipelines()
    expected = {"demo_data", "ingestion", "preprocessing", "training", "train_all", "synthesis",
                "evaluation", "segmentation", "reporting", "__default__"}  # fmt: skip
    assert expected | {f"train_{arch}" for arch in ARCHITECTURES} <= set(pipelines)
    default_nodes = {node.name for node in pipelines["__default__"].nodes}
    assert {
        "ingestion.validate_metadata",
        "preprocessing.preprocess_nih_images",
        "training.proposed.train_generator",
        "synthesis.proposed.generate_images",
        "evaluation.build_comparison_table",
        "segmentation.pairs.stylegan.train_generator",
        "segmentation.none.run_segmentation_experiment",
        "segmentation.pairs.mask2image.sample_on_masks",
        "segmentation.mask2image.run_segmentation_experiment",
        "reporting.add_dice_to_comparison",
        "reporting.build_study_report",
    } <= default_nodes
    assert not any(
        name.startswith("demo_data.") for name in default_nodes
    )  # demo data: via the hook


def test_one_architecture_runs_by_its_pipeline_name(workdir):
    with pytest.raises(Exception, match="kedro run --pipelines preprocessing"):
        run_kedro(workdir, ["train_lsgan"], params=TINY_DEMO)
    run_kedro(workdir, ["ingestion", "preprocessing"], params=TINY_DEMO)
    run_kedro(workdir, ["train_lsgan"], params=TINY_DEMO)
    assert (workdir / "data/06_models/lsgan/generator.pt").exists()
    assert not (workdir / "data/06_models/dcgan").exists()
