"""Fault: a number in MLflow that cannot be traced to the code, packages and machine behind it."""

import mlflow
import torch

from cxr_synth.runtime.devices import resolve_settings
from cxr_synth.runtime.provenance import run_record


def test_every_mlflow_run_names_commit_versions_and_machine(tiny_study):
    previous = mlflow.get_tracking_uri()  # process-global: later tests must not log here
    mlflow.set_tracking_uri(f"sqlite:///{tiny_study / 'mlflow.db'}")
    try:
        runs = mlflow.search_runs(experiment_names=["cxr_synth"])
    finally:
        mlflow.set_tracking_uri(previous)
    assert len(runs) > 10  # the parent and every GAN / U-Net child
    for column in ("git_commit", "git_dirty", "version.torch", "version.kedro", "accelerator"):
        assert runs[f"tags.cxr_synth.{column}"].notna().all(), column
    assert (runs["tags.cxr_synth.accelerator"] == "cpu").all()
    parent = runs[runs["tags.mlflow.parentRunId"].isna()].iloc[0]
    assert parent["params.preprocessing.resolution"] == "32"  # the resolved config
    trained = runs[runs["tags.mlflow.runName"] == "dcgan"].iloc[0]
    # what the resolver chose for this machine (bf16 on some AVX-512 CPUs, fp32 elsewhere:
    # tests/training/test_devices.py fakes both), read from the run's own cache
    layout = {"True": True, "False": False}.get(trained["params.train.channels_last"], "auto")
    chosen = resolve_settings(torch.device("cpu"), trained["params.train.precision"], layout)
    assert trained["params.train.resolved_precision"] == chosen[0]


def test_the_record_of_a_checkout_names_its_commit(tmp_path):
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("x")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    record = run_record(tmp_path)
    assert record["cxr_synth.git_commit"] == head.strip()
    assert record["cxr_synth.git_dirty"] == "false"
    (tmp_path / "f.txt").write_text("changed")
    assert run_record(tmp_path)["cxr_synth.git_dirty"] == "true"
