"""train_ddpm end to end through a KedroSession: the diffusion model in the GANs' template."""

import json

import mlflow
import numpy as np
import pandas as pd
import torch

from cxr_synth.sharing.sampling import sample_images
from tests.conftest import TINY_DEMO, run_kedro


def test_train_ddpm_through_the_training_template(workdir):
    params = {**TINY_DEMO, "training.loop.epochs": 2, "training.loop.eval_every": 1}
    run_kedro(workdir, ["ingestion", "preprocessing", "train_ddpm"], params=params)

    models, reports = workdir / "data/06_models/ddpm", workdir / "data/08_reporting/ddpm"
    spec = json.loads((models / "generator_spec.json").read_text())
    assert spec["architecture"] == "ddpm" and spec["resolution"] == 32
    assert spec["latent_dim"] == 32 * 32 and spec["options"]["sampling_steps"] == 2
    history = pd.read_csv(reports / "history.csv")
    assert list(history["epoch"]) == [1, 2] and "d_loss" not in history
    assert np.isfinite(history[["g_loss", "fid"]].to_numpy()).all()
    for figure in ("loss_curves", "fid_curve", "sample_grid"):
        assert (reports / f"{figure}.png").exists()

    state = torch.load(models / "generator.pt", weights_only=True)
    first = sample_images(state, spec, n_images=3, seed=0, device="cpu")
    assert first.shape == (3, 1, 32, 32)
    np.testing.assert_array_equal(first, sample_images(state, spec, n_images=3, seed=0))

    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["cxr_synth"])
    child = runs[runs["tags.mlflow.runName"] == "ddpm"].iloc[0]
    assert np.isfinite(child["metrics.train/g_loss"]) and np.isfinite(child["metrics.eval/fid"])
    assert child["params.model.sampling_steps"] == "2"
