"""Faults of the disk under a run: full while a model is saved, a read-only output folder. Each
used to be Kedro's DatasetError traceback; now `kedro run` prints one line naming the dataset,
its folder and the fix (``find_user_error`` is what it prints)."""

import errno
import os
import tempfile

import pytest
import torch
from kedro.io import DatasetError

from cxr_synth.runtime.errors import find_user_error
from tests.conftest import TINY_DEMO, run_kedro
from tests.reliability.test_atomic_outputs import _catalog


def test_a_full_disk_while_saving_a_model_is_one_line(workdir, monkeypatch):
    catalog = _catalog(workdir)

    def full(obj, f, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write() fails: no path

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(DatasetError) as error:
        catalog.save("dcgan_generator", torch.nn.Linear(3, 2))
    assert str(find_user_error(error.value)) == (
        f"could not save dcgan_generator in {workdir}/data/06_models/dcgan: No space left on "
        "device; free disk space and run again (outputs saved before are intact)"
    )


def test_a_read_only_reporting_folder_at_save_time_is_one_line(workdir, monkeypatch):
    """The folder turned read-only during the run (a remount): the temp file cannot be made."""
    catalog = _catalog(workdir)
    folder = workdir / "data/08_reporting"

    def read_only(*args, dir=None, prefix="", suffix="", **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), f"{dir}/{prefix}x1y2z3{suffix}")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(DatasetError) as error:
        catalog.save("ingestion_summary", {"counts": {}})
    assert str(find_user_error(error.value)) == (
        f"could not save ingestion_summary in {folder}: Read-only file system; make it "
        "writable, or run from a writable copy of the project"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_reporting_folder_stops_the_run_before_any_node(workdir):
    folder = workdir / "data/08_reporting"
    folder.mkdir(parents=True)
    folder.chmod(0o555)
    try:
        with pytest.raises(Exception) as error:
            run_kedro(workdir, ["ingestion"], params=TINY_DEMO)
    finally:
        folder.chmod(0o755)
    assert str(find_user_error(error.value)) == (
        f"ingestion_summary is saved in {folder}/ingestion_summary.json, but {folder} is not "
        "writable: nothing was run; make it writable, or run from a writable copy of the project"
    )
    assert not (workdir / "data/01_raw/nih").exists()  # not even the demo data
