"""A team's set-up end to end (issue 28 items 1-2): `kedro run` against a real `mlflow server`
whose artifacts go through the server (``tests/mlflow_server.py``), pointed at it as a team does,
with ``conf/local/mlflow.yml``'s ``server.mlflow_tracking_uri``.

One tiny study run (``TINY_STUDY``, registering its generators) is shared by the module: what it
logged to the server, the registry aliases it set, a second run that samples a generator by its
alias. The server killed mid-run has its own server and a short run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.framework.hooks import hook_impl

from cxr_synth.metrics.verdicts import NOT_SEPARATED, primary_metric, separated_best
from cxr_synth.models.registry import ARCHITECTURES, CONDITIONAL_ARCHITECTURES
from cxr_synth.runtime.errors import find_user_error, short_excepthook
from cxr_synth.runtime.project_lock import ProjectLock
from cxr_synth.runtime.tracking_server import TrackingServerLost
from cxr_synth.sharing.registry import BEST, CANDIDATE, promote_best
from cxr_synth.sharing.sources import generate
from tests.conftest import (
    TINY_DEMO,
    TINY_STUDY,
    TINY_STUDY_RUN,
    end_stale_mlflow_runs,
    make_project,
    nested,
    run_kedro,
)
from tests.mlflow_server import mlflow_server, mlflow_server_process

pytestmark = pytest.mark.slow  # one whole tiny study through HTTP: about 2 minutes on 2 cores

NAME = "cxr_synth_{architecture}"
TEAM_RUN = {**TINY_STUDY, "segmentation.seeds": [0], "synthesis.registered_model_name": NAME}


def use_server(project: Path, url: str) -> None:
    """What a team member writes: the server's URL in conf/local/mlflow.yml."""
    (project / "conf/local/mlflow.yml").write_text(f"server:\n  mlflow_tracking_uri: {url}\n")


def stored_files(folder: Path) -> list[Path]:
    return [Path(root) / name for root, _, files in os.walk(folder) for name in files]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("team_server")
    with mlflow_server(folder) as url:
        yield url, folder


@pytest.fixture(scope="module")
def team_run(server, tmp_path_factory):
    """The tiny study against the server; returns the project, a client of the server, the
    parent run and every registered model's aliases right after the run."""
    url, _ = server
    project = make_project(tmp_path_factory.mktemp("team_project"))
    use_server(project, url)
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        try:
            run_kedro(project, ["__default__"], params=TEAM_RUN)
        finally:
            end_stale_mlflow_runs()
            mlflow.set_tracking_uri(previous)
    client = mlflow.MlflowClient(url, url)
    experiment = client.get_experiment_by_name("cxr_synth")
    parents = client.search_runs([experiment.experiment_id], "tags.mlflow.runName = "
                                 f"'{TINY_STUDY_RUN}'")  # fmt: skip
    assert len(parents) == 1
    aliases = {m.name: dict(m.aliases) for m in client.search_registered_models()}
    return project, client, parents[0], aliases


def test_the_run_logs_runs_histories_figures_report_and_models_to_the_server(server, team_run):
    _, folder = server
    project, client, parent, _ = team_run
    assert parent.info.status == "FINISHED"
    runs = client.search_runs([parent.info.experiment_id])
    children = {r.info.run_name: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}  # fmt: skip
    paired = (*ARCHITECTURES, *CONDITIONAL_ARCHITECTURES)
    expected = {*ARCHITECTURES, *(f"pairs_{a}" for a in paired),
                *(f"unet.{m}.seed0" for m in (*paired, "none", "classic"))}  # fmt: skip
    assert expected == set(children), sorted(children)
    assert all(run.info.status == "FINISHED" for run in children.values())
    for arch in ARCHITECTURES:  # every training curve is a history, not one value
        keys = [k for k in children[arch].data.metrics if k.startswith("train/")]
        assert keys, arch
        assert len(client.get_metric_history(children[arch].info.run_id, keys[0])) > 1, arch

    logged = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"study_report.html", "synthesis_grid.png", "fid_kid_bars.png"} <= logged
    models = [m for m in client.search_logged_models([parent.info.experiment_id])
              if m.source_run_id == parent.info.run_id]  # fmt: skip
    assert sorted(m.name for m in models) == sorted(f"{a}_generator" for a in ARCHITECTURES)
    for arch in ARCHITECTURES:  # registered: version 1, marked as the candidate
        version = client.get_model_version_by_alias(NAME.format(architecture=arch), CANDIDATE)
        assert (version.version, version.run_id) == ("1", parent.info.run_id)

    # The files are where the server keeps them, none in the project: jobs need only the URL.
    stored = stored_files(folder / "artifacts")
    assert sum(p.name == "study_report.html" for p in stored) == 1
    weights = {part for p in stored if p.name == "generator.pt" for part in p.parts}
    assert all(m.model_id in weights for m in models)  # each pyfunc generator's weights
    assert not (project / "mlruns").exists() and not (project / "mlflow.db").exists()


def test_best_follows_the_runs_verdict_and_the_candidates_stay(team_run):
    project, _, _, aliases = team_run
    verdicts = pd.read_csv(project / "data/08_reporting/comparison_verdicts.csv")
    winner = separated_best(verdicts, primary_metric(verdicts))
    best = {name: found[BEST] for name, found in aliases.items() if BEST in found}
    assert best == ({NAME.format(architecture=winner): "1"} if winner else {})
    assert all(found[CANDIDATE] == "1" for found in aliases.values())


def _verdicts_with(project: Path, winner: str | None) -> pd.DataFrame:
    """The run's verdicts, the primary metric's rewritten: ``winner`` better than every other
    architecture, or (None) no pair separated."""
    verdicts = pd.read_csv(project / "data/08_reporting/comparison_verdicts.csv")
    primary = verdicts["metric"] == primary_metric(verdicts)
    verdicts.loc[primary, "verdict"] = NOT_SEPARATED
    if winner is not None:
        for side, other in (("a", "b"), ("b", "a")):
            rows = primary & (verdicts[side] == winner)
            verdicts.loc[rows, "verdict"] = winner + " better than " + verdicts.loc[rows, other]
    return verdicts


def test_best_moves_only_when_separated_and_samples_by_alias(server, team_run, caplog):
    url, _ = server
    project, client, _, _ = team_run
    records = [json.loads((project / f"data/07_model_output/{a}/synthesis_record.json")
                          .read_text()) for a in ARCHITECTURES]  # fmt: skip

    def best() -> dict[str, str]:
        return {m.name: m.aliases[BEST] for m in client.search_registered_models()
                if BEST in m.aliases}  # fmt: skip

    before = best()
    with caplog.at_level(logging.INFO, logger="cxr_synth.sharing.registry"):
        assert promote_best(_verdicts_with(project, None), records, client) is None
    assert best() == before  # nothing separated: nothing moved
    assert [r.message for r in caplog.records] == [
        "registry: no architecture is better than every other on KID_rand_mean (intervals "
        "excluding zero): no 'best' alias moved"
    ]

    for winner in ("lsgan", "dcgan"):  # moved to the winner; the others lose theirs
        moved = promote_best(_verdicts_with(project, winner), records, client)
        assert moved == f"models:/cxr_synth_{winner}/1"
        assert best() == {f"cxr_synth_{winner}": "1"}

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(url)
    try:
        images = generate("models:/cxr_synth_dcgan@best", 4, seed=3)
    finally:
        mlflow.set_tracking_uri(previous)
    np.testing.assert_array_equal(images, generate(project / "data/06_models/dcgan", 4, seed=3))


def test_a_second_run_synthesizes_from_the_alias_and_gives_the_local_models_images(
    server, team_run, tmp_path
):
    """No trained generator in this project: synthesis samples `models:/…@candidate`."""
    url, _ = server
    project, client, parent, _ = team_run
    other = make_project(tmp_path / "second")
    use_server(other, url)
    (other / "data/05_model_input").mkdir(parents=True)
    index = "data/05_model_input/nih_images_index.parquet"
    (other / index).write_bytes((project / index).read_bytes())
    uri = f"models:/cxr_synth_dcgan@{CANDIDATE}"
    params = {k: v for k, v in TEAM_RUN.items() if k.startswith("synthesis.")}
    previous, cwd = mlflow.get_tracking_uri(), Path.cwd()
    try:
        os.chdir(other)
        run_kedro(other, ["synthesize_dcgan"], params={**params, "synthesis.model_uri.dcgan": uri})
    finally:
        os.chdir(cwd)
        end_stale_mlflow_runs()
        mlflow.set_tracking_uri(previous)
    synthetic = "data/07_model_output/dcgan/synthetic.npy"
    np.testing.assert_array_equal(np.load(other / synthetic), np.load(project / synthetic))
    record = json.loads((other / "data/07_model_output/dcgan/synthesis_record.json").read_text())
    assert record["source"] == {"source": uri, "run_id": parent.info.run_id,
                                "model_id": record["source"]["model_id"]}  # fmt: skip
    assert record["registered_model_name"] is None  # sampled, not registered again
    assert [v.version for v in client.search_model_versions("name = 'cxr_synth_dcgan'")] == ["1"]


class KillServerBefore:
    """Kills the server's process group (by its PID) just before ``node`` runs, noting the
    digest of every file under data/ at that moment."""

    def __init__(self, node: str, server: subprocess.Popen, data: Path) -> None:
        self.node, self.server, self.data = node, server, data
        self.files: dict[Path, str] = {}

    @hook_impl
    def before_node_run(self, node) -> None:
        if node.name != self.node:
            return
        self.files = {p: hashlib.sha256(p.read_bytes()).hexdigest()
                      for p in stored_files(self.data) if p.name != ".kedro_run.lock"}  # fmt: skip
        os.killpg(self.server.pid, signal.SIGKILL)
        self.server.wait(timeout=30)


def test_the_server_killed_mid_run_ends_it_with_one_line_and_keeps_the_outputs(
    tmp_path, monkeypatch, capsys
):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project)
    # MLflow retries a lost server for ~4 minutes by default (a restart within that is survived).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    (tmp_path / "server").mkdir()
    previous = mlflow.get_tracking_uri()
    with mlflow_server_process(tmp_path / "server") as (url, process):
        use_server(project, url)
        killer = KillServerBefore("training.dcgan.train_generator", process, project / "data")
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=nested(TINY_DEMO)) as session:
            session._hook_manager.register(killer)
            with pytest.raises(Exception) as raised:
                session.run(pipeline_names=["ingestion", "preprocessing", "train_dcgan"])
    mlflow.set_tracking_uri(previous)
    assert killer.files, "the node was never reached"
    assert mlflow.active_run() is None  # the run stack is clean for the next run in this process

    error = find_user_error(raised.value)
    assert isinstance(error, TrackingServerLost)
    assert str(error).startswith(f"The MLflow tracking server {url} stopped answering")
    assert "Start it again and rerun" in str(error) and "\n" not in str(error)
    capsys.readouterr()  # the run's own output
    short_excepthook(type(raised.value), raised.value, raised.value.__traceback__)  # the CLI's
    printed = capsys.readouterr().err.strip().splitlines()
    assert printed[0].startswith(f"Error: The MLflow tracking server {url} stopped answering")
    assert len(printed) == 2 and printed[1].startswith("(full traceback: ")

    # Everything finished before the kill is intact, and the project is not left locked.
    assert any(p.name == "nih_images.npy" for p in killer.files)
    for path, digest in killer.files.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path
    assert not (project / "data/06_models/dcgan/generator.pt").exists()
    lock = ProjectLock(project / "data")
    lock.acquire("test")
    lock.release()


def test_a_study_fans_out_to_local_jobs_that_log_to_the_server_and_summarises_from_it(
    server, tmp_path_factory, monkeypatch
):
    """Two seeds as two parallel processes (`--executor local`), both logging to the server;
    the summary reads them back from the server."""
    from click.testing import CliRunner

    from cxr_synth.cli import cli
    from tests.study.test_runner import VARIANT_STUDY, _write

    url, _ = server
    project = make_project(tmp_path_factory.mktemp("team_study"))
    use_server(project, url)
    study = {k: v for k, v in VARIANT_STUDY.items() if k != "variants"} | {"study_name": "team"}
    file = _write(project / "team.yml", study)
    monkeypatch.chdir(project)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    previous = mlflow.get_tracking_uri()
    try:
        result = CliRunner().invoke(cli, ["study", "run", file, "--executor", "local", "--jobs",
                                          "2"], catch_exceptions=False)  # fmt: skip
    finally:
        end_stale_mlflow_runs()
        mlflow.set_tracking_uri(previous)
    assert result.exit_code == 0, result.output
    client = mlflow.MlflowClient(url)
    experiment = client.get_experiment_by_name("cxr_synth").experiment_id
    runs = client.search_runs([experiment], "tags.`cxr_synth.study` = 'team'")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    roles = sorted((r.data.tags["cxr_synth.study_role"], r.data.tags.get("cxr_synth.study_seed"))
                   for r in parents)  # fmt: skip
    assert roles == [("seed", "0"), ("seed", "1"), ("summary", None)]
    assert all(r.info.status == "FINISHED" for r in parents)
    (summary,) = [r for r in parents if r.data.tags["cxr_synth.study_role"] == "summary"]
    assert "study.dcgan.FD_rand.mean" in summary.data.metrics
    assert not (project / "mlflow.db").exists()  # everything went to the server
