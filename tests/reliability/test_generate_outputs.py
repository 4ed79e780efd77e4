"""Faults of `python -m cxr_synth generate … --out DIR`: two calls into one folder at once
overwrote each other's PNGs (330 files for 600 images); `--n 1000000000` died of MemoryError;
an `--out` under a file, `--device banana` and an unknown run id; the pyfunc's unbounded `n`."""

import os
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from cxr_synth.runtime.errors import UserError
from cxr_synth.sharing.generator import write_pngs
from cxr_synth.sharing.pyfunc import GeneratorPyfunc
from tests.sharing.test_sources import tiny_generator


def test_concurrent_writers_never_overwrite_each_other(tmp_path):
    batches = [np.full((60, 8, 8), k, np.uint8) for k in range(4)]  # one grey level per writer
    start = threading.Barrier(len(batches))

    def write(batch):
        start.wait()
        write_pngs(batch, tmp_path)

    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    files = sorted(tmp_path.glob("synthetic_*.png"))
    assert len(files) == 240  # every image kept
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left


def test_a_huge_n_is_refused_before_sampling(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "cxr_synth", "generate", str(tmp_path), "--n", "1000000000",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "1000000000 is not in the range 1<=x<=100000" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_dead_tracking_server_is_one_line_within_seconds(tmp_path):
    """`generate runs:/…` with MLFLOW_TRACKING_URI on a dead server took 253 s and 646 lines."""
    import time

    from tests.reliability.test_tracking_server import _closed_port

    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{_closed_port()}"}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cxr_synth", "generate", "runs:/0123abcd/dcgan_generator",
         "--n", "2", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode != 0 and time.monotonic() - start < 60
    assert "does not answer" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) < 5, done.stderr


def _generate(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cxr_synth", "generate", *args],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_an_out_folder_under_a_file_is_refused_before_sampling(tmp_path):
    """Before: NotADirectoryError after sampling, 66 lines."""
    tiny_generator().save(tmp_path / "model")
    (tmp_path / "a_file").write_text("not a folder")
    done = _generate(str(tmp_path / "model"), "--n", "2", "--out", str(tmp_path / "a_file/sub"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{tmp_path}/a_file is a file, not a folder" in done.stderr


def test_an_unknown_device_is_one_line(tmp_path):
    """Before: PyTorch's RuntimeError listing 20 device types, 88 lines."""
    tiny_generator().save(tmp_path / "model")
    done = _generate(str(tmp_path / "model"), "--n", "2", "--device", "banana",
                     "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "Error: device 'banana' is none of auto, cpu, cuda, cuda:N, mps" in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_run_id_is_one_line_naming_the_uri(tmp_path):
    """MLflow's "not found" as one line with the URI (it already was: a guard)."""
    uri = "runs:/0123456789abcdef0123456789abcdef/dcgan_generator"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    done = _generate(uri, "--n", "2", "--out", str(tmp_path / "out"), env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"Error: {uri}: Run with id=0123456789abcdef0123456789abcdef not found" in done.stderr


def test_a_pyfunc_request_over_the_maximum_is_refused_before_sampling():
    """`predict` sampled any n (two rows of 60,000: 120,000 images in memory)."""
    model = GeneratorPyfunc()
    model.generator = tiny_generator()
    with pytest.raises(UserError, match=r"^n = 120000: one call samples 1 to 100,000 images"):
        model.predict(None, pd.DataFrame({"n": [60_000, 60_000]}))
