"""`kedro viz run` serves every pipeline over HTTP, and its page renders in headless Chromium.

The real server starts in a throw-away project (``make_project``, as the ``workdir`` fixture does;
the installed ``cxr_synth`` package is used) on a free port of 127.0.0.1 and stays offline: no
browser, telemetry off, and kedro-viz's PyPI update check is sent to a closed local port so it
fails at once. The whole process group is killed at teardown.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cxr_synth.models.registry import ARCHITECTURES, CONDITIONAL_ARCHITECTURES
from cxr_synth.pipeline_registry import register_pipelines
from tests.browser import WINDOW, needs_browser, rendered_dom, screenshot
from tests.conftest import free_port, make_project

STARTUP_TIMEOUT_S = 240  # generous: CI shares 2 cores with the rest of the suite
CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens here: outbound HTTPS fails immediately
# Layers of a few stable datasets, one per layer the study writes (catalog.yml).
EXPECTED_LAYERS = {
    "nih_metadata": "raw",
    "nih_manifest": "intermediate",
    "fid_reference_stats": "feature",
    "nih_images_array": "model_input",
    **{f"{arch}_generator": "models" for arch in ARCHITECTURES},
    **{f"{arch}_synthetic_images": "model_output" for arch in ARCHITECTURES},
    "comparison_table": "reporting",
}
STAGES = {"ingestion", "preprocessing", "training", "synthesis", "evaluation", "segmentation",
          "reporting"}  # fmt: skip
LAYER_ORDER = [
    "raw",
    "intermediate",
    "model_input",
    "feature",
    "models",
    "model_output",
    "reporting",
]

# Loopback only: never through a proxy the environment may name.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class VizServer:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def get(self, path: str, timeout: float = 60) -> bytes:
        with _OPENER.open(self.url + path, timeout=timeout) as response:
            return response.read()

    def json(self, path: str) -> dict:
        return json.loads(self.get(path))


def _spawned_server_alive(pid: int) -> bool | None:
    """Whether `kedro viz run` (pid) still has its server child (multiprocessing ``spawn_main``).

    ``kedro viz run`` keeps polling for up to 600 s after its server process died, so its own
    exit is no sign of failure. None where /proc cannot tell.
    """
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (CLI, server, resource tracker), then SIGKILL."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue


def _wait_until_ready(server: VizServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    server_seen, dead_checks = False, 0
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"kedro viz run exited with {server.process.returncode}:\n{server.output()}"
            )
        alive = _spawned_server_alive(server.process.pid)
        server_seen = server_seen or bool(alive)
        dead_checks = dead_checks + 1 if server_seen and alive is False else 0
        if dead_checks >= 5:  # not a momentary gap while the server process is replaced
            pytest.fail(f"the kedro-viz server process died:\n{server.output()}")
        try:
            server.get("/api/main", timeout=10)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    pytest.fail(f"kedro viz run not ready after {STARTUP_TIMEOUT_S} s:\n{server.output()}")


@pytest.fixture(scope="module")
def viz(tmp_path_factory) -> Iterator[VizServer]:
    """One `kedro viz run` for this module's tests (starting it costs 15-60 s of CPU)."""
    project = make_project(tmp_path_factory.mktemp("viz_project"))
    port = free_port()
    env = {
        **os.environ,
        "DO_NOT_TRACK": "true",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "https_proxy": CLOSED_PORT,
        "HTTPS_PROXY": CLOSED_PORT,
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
        "COLUMNS": "160",  # rich's log lines, readable in a failure message
    }
    log = project / "viz.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kedro", "viz", "run"]
            + ["--host", "127.0.0.1", "--port", str(port), "--no-browser"],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole below
        )
    server = VizServer(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        _stop(process)


def test_api_serves_every_registered_pipeline(viz):
    registered = set(register_pipelines())
    main = viz.json("/api/main")
    assert main["selected_pipeline"] == "__default__"
    assert {p["id"] for p in main["pipelines"]} == registered
    for name in sorted(registered):
        graph = viz.json(f"/api/pipelines/{name}")
        assert graph["selected_pipeline"] == name
        tasks = [n for n in graph["nodes"] if n["type"] == "task"]
        assert tasks, f"pipeline {name} has no nodes in kedro-viz"
        assert all(name in n["pipelines"] for n in tasks), name


def test_nodes_have_readable_names_tags_and_layers(viz):
    main = viz.json("/api/main")
    tasks = [n for n in main["nodes"] if n["type"] == "task"]
    # Named nodes: Kedro's default name would be "func([inputs]) -> [outputs]".
    unreadable = [n["full_name"] for n in tasks if not re.fullmatch(r"[a-z][a-z0-9_]*", n["name"])]
    assert not unreadable
    names = {n["name"] for n in tasks}
    for stage_node in (
        "validate_metadata",
        "preprocess_nih_images",
        "compute_fid_reference_stats",
        "train_generator",
        "generate_images",
        "evaluate_architecture",
        "build_comparison_table",
    ):
        assert stage_node in names

    assert {"training", "evaluation"} <= {t["id"] for t in main["tags"]}
    trained = {tag for n in tasks if n["name"] == "train_generator" for tag in n["tags"]}
    assert {"training", *ARCHITECTURES} <= trained
    for node in tasks:
        if node["name"] == "train_generator":
            assert "training" in node["tags"], node["full_name"]
        if node["name"] == "evaluate_architecture":
            assert "evaluation" in node["tags"], node["full_name"]

    layers = {n["name"]: n["layer"] for n in main["nodes"] if n["type"] == "data"}
    assert {name: layers.get(name) for name in EXPECTED_LAYERS} == EXPECTED_LAYERS

    page = viz.get("/").decode()
    assert "Kedro-Viz" in page
    assert "heapanalytics" not in page  # kedro-viz's telemetry snippet is left out


def test_the_top_level_is_the_study_stages(viz):
    tree = viz.json("/api/main")["modular_pipelines"]
    top = {c["id"] for c in tree["__root__"]["children"] if c["type"] == "modularPipeline"}
    assert top == STAGES
    for stage in ("training", "synthesis", "evaluation"):
        inner = {c["id"] for c in tree[stage]["children"] if c["type"] == "modularPipeline"}
        assert inner == {f"{stage}.{arch}" for arch in ARCHITECTURES}
    inner = {c["id"] for c in tree["segmentation"]["children"] if c["type"] == "modularPipeline"}
    assert inner == {"segmentation.pairs", "segmentation.none", "segmentation.classic"} | {
        f"segmentation.{arch}" for arch in (*ARCHITECTURES, *CONDITIONAL_ARCHITECTURES)
    }


def test_layers_are_drawn_in_study_order(viz):
    assert viz.json("/api/main")["layers"] == LAYER_ORDER


@needs_browser
def test_page_renders_in_headless_chromium(viz, tmp_path):
    from PIL import Image

    with Image.open(screenshot(viz.url + "/", tmp_path / "viz.png")) as image:
        assert image.size == WINDOW
        colours = image.convert("RGB").getcolors(maxcolors=WINDOW[0] * WINDOW[1])
    assert len(colours) > 1, "the kedro-viz page rendered blank"


@needs_browser
def test_the_nodes_view_opens_on_the_seven_stages(viz, tmp_path):
    """kedro-viz draws every dataset that leaves a stage (and every final output) outside it,
    so with datasets shown the top level holds ~200 of them; `?types=nodes` (kedro-viz's own
    URL state, README) shows the study's shape: the stages, collapsed."""
    url = viz.url + "/?types=nodes"
    screenshot(url, tmp_path / "stages.png")  # for a human to look at
    dom = rendered_dom(url, tmp_path / "dom-profile")
    (tmp_path / "stages.html").write_text(dom)
    drawn = {label.strip() for label in re.findall(r"<text[^>]*>([^<]+)</text>", dom)}
    assert drawn == STAGES, sorted(drawn)[:40]  # the graph's labels: the stages, nothing else
