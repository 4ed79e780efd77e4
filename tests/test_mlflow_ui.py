"""The tiny study's runs as a team sees them in MLflow: the experiment's kind, readable run names,
a run description, the comparison as a table; and `mlflow server`'s UI in headless Chromium.

The server runs on a copy of the tiny study's store (``tiny_study`` is shared and read-only), on a
free port of 127.0.0.1, offline, and is killed with its process group at teardown.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from cxr_synth.runtime.mlflow_workspace import (
    EXPERIMENT_KIND_TAG,
    MODEL_TRAINING,
    NOTE_TAG,
    run_page_url,
)
from tests.browser import needs_browser, rendered_dom, screenshot, visible_text
from tests.conftest import TINY_STUDY_RUN
from tests.mlflow_server import mlflow_server


@pytest.fixture(scope="module")
def store(tiny_study) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{tiny_study / 'mlflow.db'}")


def _parent(client: mlflow.MlflowClient):
    experiment = client.get_experiment_by_name("cxr_synth")
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    return experiment, parents[0]


def test_the_experiment_is_a_model_training_one_and_the_parent_run_reads(store):
    experiment, parent = _parent(store)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    assert parent.info.run_name == TINY_STUDY_RUN
    note = parent.data.tags[NOTE_TAG]
    assert note.startswith("`kedro run`. Architectures: dcgan, ddpm, lsgan")
    assert "resolution (px) 32" in note and "synthetic images per architecture 16" in note
    children = {r.info.run_name for r in store.search_runs([experiment.experiment_id])} - {TINY_STUDY_RUN}
    assert {"dcgan", "proposed", "proposed_tuned"} <= children  # child runs keep their names


def test_the_comparison_and_its_verdicts_are_mlflow_tables(store, tiny_study):
    _, parent = _parent(store)
    logged = json.loads(parent.data.tags["mlflow.loggedArtifacts"])
    tables = {entry["path"] for entry in logged if entry["type"] == "table"}
    assert {"tables/comparison_table.json", "tables/comparison_verdicts.json"} <= tables
    path = mlflow.artifacts.download_artifacts(
        run_id=parent.info.run_id, artifact_path="tables/comparison_table.json",
        tracking_uri=f"sqlite:///{tiny_study / 'mlflow.db'}",
    )  # fmt: skip
    table = json.loads(Path(path).read_text())
    assert "architecture" in table["columns"] and "FD_rand" in table["columns"]
    assert len(table["data"]) == 7  # one row per architecture
    artifacts = {a.path for a in store.list_artifacts(parent.info.run_id)}
    assert "comparison_table.csv" in artifacts  # the CSV artifact stays (studies read it)


@pytest.fixture(scope="module")
def ui(tiny_study, tmp_path_factory) -> Iterator[str]:
    """`mlflow server` on a copy of the tiny study's store; yields its base URL."""
    folder = tmp_path_factory.mktemp("mlflow_ui")
    shutil.copy(tiny_study / "mlflow.db", folder / "mlflow.db")
    with mlflow_server(folder) as url:
        yield url


def _render(url: str, tmp_path: Path, name: str) -> str:
    """The page's text after its scripts ran; a screenshot beside it for a human to look at."""
    screenshot(url, tmp_path / f"{name}.png")
    return visible_text(rendered_dom(url, tmp_path / f"{name}.dom-profile"))


@needs_browser
def test_the_ui_lists_the_runs_by_their_readable_names(ui, store, tmp_path):
    experiment, parent = _parent(store)
    runs_page = run_page_url(ui, experiment.experiment_id, parent.info.run_id).replace(
        f"/runs/{parent.info.run_id}", "/runs"
    )
    text = _render(runs_page, tmp_path, "runs")
    assert TINY_STUDY_RUN in text, text[:2000]
    assert "Traces 0" not in text  # not the GenAI overview


@needs_browser
def test_the_run_page_shows_the_description_and_the_comparison_table(ui, store, tmp_path):
    experiment, parent = _parent(store)
    page = run_page_url(ui, experiment.experiment_id, parent.info.run_id)
    text = _render(page, tmp_path, "run")
    assert TINY_STUDY_RUN in text and "Architectures: dcgan, ddpm, lsgan" in text, text[:2000]
    table = page.replace("?", "/artifacts/tables/comparison_table.json?")
    text = _render(table, tmp_path, "table")
    assert "architecture" in text and "FD_rand" in text and "proposed_tuned" in text, text[:3000]
    figure = page.replace("?", "/artifacts/synthesis_grid.png?")
    screenshot(figure, tmp_path / "figure.png")
    dom = rendered_dom(figure, tmp_path / "figure.dom-profile")
    assert re.search(r"<img[^>]+(get-artifact|blob:)[^>]*>", dom), "the figure is not shown"
