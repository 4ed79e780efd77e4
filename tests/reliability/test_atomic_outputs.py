"""Fault: a save that fails or is killed half-way; the previous output must survive intact, or
be refused when half of a model is new."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError

from cxr_synth.models.registry import build_gan
from cxr_synth.pipelines.synthesis.nodes import select_generator
from cxr_synth.pipelines.synthesis.params import SynthesisParams
from cxr_synth.pipelines.training.params import TrainingParams
from cxr_synth.runtime.atomic import TEMP_PATTERN, atomic_write, remove_stale_temp_files
from cxr_synth.runtime.errors import UserError
from cxr_synth.sharing import generate, load_generator
from tests.conftest import TINY_DEMO, run_kedro
from tests.sharing.test_sources import tiny_generator


def _catalog(workdir):
    bootstrap_project(workdir)
    session = KedroSession.create(project_path=workdir)
    return session.load_context().catalog


def _temp_files(root):
    return [p for p in root.rglob("*") if TEMP_PATTERN.match(p.name)]


def test_a_model_save_that_fails_half_way_keeps_the_old_model(workdir, monkeypatch):
    catalog = _catalog(workdir)
    old = torch.nn.Linear(3, 2)
    catalog.save("dcgan_generator", old)
    target = workdir / "data/06_models/dcgan/generator.pt"
    before = target.read_bytes()

    def torn_save(obj, f, **kwargs):
        f.write(b"\x80\x02half a pickle")  # some bytes reach the file, then the writer dies
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(DatasetError, match="disk full"):
        catalog.save("dcgan_generator", torch.nn.Linear(3, 2))
    assert target.read_bytes() == before
    loaded = torch.load(target, weights_only=True)
    assert torch.equal(loaded["weight"], old.weight.detach())
    assert _temp_files(target.parent) == []


def test_a_json_report_that_fails_mid_write_keeps_the_old_report(workdir):
    catalog = _catalog(workdir)
    catalog.save("ingestion_summary", {"counts": {"rows": 1}})
    target = workdir / "data/08_reporting/ingestion_summary.json"
    with pytest.raises(DatasetError):
        catalog.save("ingestion_summary", {"counts": {"rows": 2}, "bad": object()})
    assert json.loads(target.read_text()) == {"counts": {"rows": 1}}
    assert _temp_files(target.parent) == []


KILLED_WRITER = """
import os, signal, sys
import numpy as np
import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
import cxr_synth.runtime.atomic as atomic

bootstrap_project(sys.argv[1])
catalog = KedroSession.create(project_path=sys.argv[1]).load_context().catalog

class Dying(atomic._AtomicFile):
    def write(self, data):
        self._file.write(bytes(data)[: len(data) // 2])
        self._file.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # killed by its own PID, mid-write

atomic._AtomicFile = Dying
catalog.save("nih_rejects", pd.DataFrame({"line": range(1000), "reason": "new"}))
"""


def test_a_kill_during_a_table_save_keeps_the_old_table_and_the_next_run_cleans_up(workdir):
    catalog = _catalog(workdir)
    old = pd.DataFrame({"line": [1, 2], "reason": ["old", "old"]})
    catalog.save("nih_rejects", old)
    target = workdir / "data/02_intermediate/nih_rejects.csv"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(workdir)], cwd=workdir)
    assert done.returncode == -signal.SIGKILL
    pd.testing.assert_frame_equal(pd.read_csv(target), old)
    assert len(_temp_files(target.parent)) == 1  # what the killed write left
    run_kedro(workdir, ["ingestion"], params=TINY_DEMO)  # a new run removes it at start
    assert _temp_files(workdir / "data") == []


def test_atomic_write_publishes_with_normal_permissions(tmp_path):
    with atomic_write(tmp_path / "out.bin") as handle:
        handle.write(b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    (tmp_path / ".out.bin.abc123.tmp").write_bytes(b"left by a kill")
    (tmp_path / "keep.tmp").write_bytes(b"not ours")
    assert [p.name for p in remove_stale_temp_files(tmp_path)] == [".out.bin.abc123.tmp"]
    assert (tmp_path / "keep.tmp").exists()


def test_weights_saved_after_their_spec_was_not_are_refused(tmp_path, monkeypatch):
    """A kill between the two saves of a model folder: new weights of the same shapes (a
    LeakyReLU 0.2 generator) beside the old spec (ReLU) would rebuild the wrong network."""
    monkeypatch.chdir(tmp_path)
    generator = tiny_generator("dcgan", {"g_width": 4, "d_width": 4, "negative_slope": 0.0})
    folder = generator.save("data/06_models/dcgan")
    np.testing.assert_array_equal(generate("data/06_models/dcgan", 2), generator.sample(2))
    spec = json.loads((folder / "generator_spec.json").read_text())
    weights = folder / "generator.pt"
    newer = build_gan("dcgan", resolution=16, latent_dim=8, seed=1, g_width=4, d_width=4,
                      negative_slope=0.2)  # fmt: skip
    torch.save(newer.generator.state_dict(), weights)

    catalog = (torch.load(weights, weights_only=True), spec, pd.DataFrame({"split": ["train"]}))
    params = (TrainingParams.parse({}), SynthesisParams.parse({}))
    routes = {
        "folder": lambda: load_generator("data/06_models/dcgan"),
        "file": lambda: load_generator(weights),
        "catalog": lambda: select_generator(*catalog, *params, architecture="dcgan"),
    }
    for route, load in routes.items():
        with pytest.raises(UserError) as refused:
            load()
        assert str(refused.value) == (
            "data/06_models/dcgan: generator.pt does not match generator_spec.json (a save was "
            "interrupted); retrain or restore both"
        ), route
