"""Shared fixtures. Telemetry is off for every test; real samples come from ../shared/data."""

from __future__ import annotations

import atexit
import os
import random
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
# CPU precision/layout "auto" is measured once per machine and cached (runtime/devices.py):
# the suite (and the kedro processes it starts) caches in a throw-away folder, never the user's.
os.environ["CXR_SYNTH_CACHE_DIR"] = tempfile.mkdtemp(prefix="cxr_synth_test_cache_")
atexit.register(shutil.rmtree, os.environ["CXR_SYNTH_CACHE_DIR"], True)
# Tests use tiny networks: one intra-op thread avoids OpenMP spin-waiting against the other
# test processes (DDP workers, decoding pools), which made them 10-40x slower on 2 cores.
torch.set_num_threads(1)

# CXR_SYNTH_FAKE_CPU=bf16-fast|bf16-slow runs the whole suite (and the kedro processes it
# starts) as on a CPU where bf16 is twice as fast as fp32 (AVX-512 with bf16) or four times as
# slow (AVX2 only): the measurement of "auto" is replaced by those timings, for every thread count.
FAKE_CPU_SECONDS = {
    "bf16-fast": {"fp32": 10e-3, "fp32+cl": 9e-3, "bf16": 5e-3, "bf16+cl": 4e-3},
    "bf16-slow": {"fp32": 5e-3, "fp32+cl": 4.5e-3, "bf16": 20e-3, "bf16+cl": 18e-3},
}


def _fake_cpu(kind: str) -> None:
    import json
    import re

    from cxr_synth.runtime.devices import CACHE_FILE, _decide, machine_fingerprint

    if kind not in FAKE_CPU_SECONDS:
        raise ValueError(f"CXR_SYNTH_FAKE_CPU={kind!r}: use one of {sorted(FAKE_CPU_SECONDS)}")
    decision = _decide(lambda: dict(FAKE_CPU_SECONDS[kind]), kind)
    key = machine_fingerprint()
    machines = {re.sub(r"\| \d+ threads \|", f"| {n} threads |", key): decision
                for n in range(1, (os.cpu_count() or 1) + 1)}  # fmt: skip
    path = Path(os.environ["CXR_SYNTH_CACHE_DIR"]) / CACHE_FILE
    path.write_text(json.dumps({"machines": machines}))


if os.environ.get("CXR_SYNTH_FAKE_CPU"):
    _fake_cpu(os.environ["CXR_SYNTH_FAKE_CPU"])

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when that sample is not on this machine."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real sample data not available: {path} (see ../shared/data/README.md)")
    return path


def make_project(path: Path) -> Path:
    """A throw-away Kedro project: pyproject.toml and conf/ (without the user's conf/local).

    Kedro resolves catalog paths against the project path and MLflow's sqlite store against
    the working directory, so end-to-end runs write data/, mlflow.db and mlruns/ there, never
    into the real project. ``src/`` stays empty: the installed ``cxr_synth`` package is used.
    """
    shutil.copytree(PROJECT_ROOT / "conf", path / "conf", ignore=shutil.ignore_patterns("local"))
    (path / "conf" / "local").mkdir()
    (path / "src").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", path)
    return path


def end_stale_mlflow_runs() -> None:
    """kedro-mlflow ends its run in the store, but MLflow's in-process run stack can keep a
    stale entry; clear it so the next session in this process starts its own run."""
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Iterator[Path]:
    """An empty throw-away project (``make_project``), the working directory during the test."""
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    end_stale_mlflow_runs()


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory) -> Iterator[Path]:
    """One ``kedro run`` of the whole default study at tiny sizes (``TINY_STUDY``), shared by
    every test that inspects its outputs; treat it as read-only."""
    path = make_project(tmp_path_factory.mktemp("tiny_study"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)
        try:
            run_kedro(path, ["__default__"], params=TINY_STUDY)
        finally:
            end_stale_mlflow_runs()
    yield path


TINY_STUDY_RUN = "local · all stages · seed 42"  # its parent run's name (conf/base seed 42)
DCGAN_FAMILY = ("dcgan", "lsgan", "wgan_gp", "proposed", "proposed_tuned")
TINY_DEMO = {
    "demo_data.image_size": 96,
    "demo_data.nih.n_patients": 16,
    "demo_data.seg.n_images": 6,
    "preprocessing.resolution": 32,
    "preprocessing.segmentation.resolution": 32,
    "training.loop.epochs": 1,
    "training.loop.batch_size": 8,
    "training.loop.log_every": 1,
    "training.loop.checkpoint_every": 1,  # the demo's 25 would leave multi-epoch tests none
    "training.evaluation.n_real": 16,
    "training.evaluation.n_fake": 16,
    "training.evaluation.backbone": "random",
    **{f"{arch}.model.options.g_width": 4 for arch in DCGAN_FAMILY},
    **{f"{arch}.model.options.d_width": 4 for arch in DCGAN_FAMILY},
    "wgan_gp.model.options.n_critic": 1,  # a tiny epoch has too few steps for 5 critic steps
    "stylegan.model.options": {
        "g_width": 8,
        "d_width": 8,
        "max_width": 8,
        "w_dim": 8,
        "mapping_layers": 2,
    },
    "mask2image.model.options": {
        "g_width": 4,
        "d_width": 4,
        "max_width": 8,
        "g_depth": 3,
        "d_layers": 2,
    },
    "ddpm.model.options": {
        "widths": [8, 8],
        "layers_per_block": 1,
        "attention_resolutions": [],
        "patch_size": 4,
        "sampling_steps": 2,
    },
}
"""Demo data, preprocessing and GAN training at the smallest sizes that still exercise them."""

TINY_STUDY = {
    **TINY_DEMO,
    "synthesis.n_images": 16,
    "synthesis.batch_size": 8,
    "synthesis.grid.n_columns": 4,
    "evaluation.backbone": "random",
    "evaluation.batch_size": 16,
    "evaluation.kid_subsets": 10,
    "evaluation.ms_ssim_pairs": 10,
    "evaluation.nn_candidates": 2,
    "evaluation.closest_pairs": 4,
    "evaluation.resamples": 5,
    "pair_training.loop.epochs": 1,
    "pair_training.loop.batch_size": 4,
    "pair_training.loop.log_every": 1,
    "pair_training.init_from_pretrained": True,  # exercised here; off by default
    "pair_training.evaluation.n_fake": 8,
    "pair_training.evaluation.backbone": "random",
    "segmentation.seeds": [0, 1],
    "segmentation.unet.epochs": 1,
    "segmentation.unet.base_width": 4,
}
"""``TINY_DEMO`` plus synthesis, evaluation and segmentation at tiny sizes: the whole study."""


def nested(params: dict) -> dict:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``, as ``kedro run --params a.b=1`` does."""
    tree: dict = {}
    for key, value in params.items():
        *parents, leaf = key.split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return tree


def run_kedro(
    workdir: Path, pipelines: list[str], env: str | None = None, params: dict | None = None
) -> dict:
    """Run pipelines through a real KedroSession (hooks, kedro-mlflow and all) in ``workdir``.

    ``params`` are runtime parameters with dotted keys, like ``kedro run --params``.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(workdir)
    with KedroSession.create(
        project_path=workdir, env=env, runtime_params=nested(params or {})
    ) as session:
        return session.run(pipeline_names=pipelines)


def free_port() -> int:
    """A free port below 49151: kedro-viz refuses higher ones, where the OS's ephemeral ports lie."""
    for port in random.Random().sample(range(20000, 49000), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port in 20000-49000 on 127.0.0.1")
