"""Faults of `python -m cxr_synth generate … --out DIR`: two calls into one folder at once
overwrote each other's PNGs (330 files for 600 images); `--n 1000000000` died of MemoryError."""

import subprocess
import sys
import threading

import numpy as np

from cxr_synth.sharing.generator import write_pngs


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
    import os
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
