"""Faults: a user's slips that used to pass silently — a study named "..", ``resume: true`` with
an empty or mistyped checkpoint folder."""

import logging

import pytest

from cxr_synth.runtime.errors import UserError
from cxr_synth.study.mlflow_runs import check_study_name
from cxr_synth.training import train_gan
from tests.conftest import TINY_DEMO, run_kedro
from tests.training import Blobs, make_tiny_gan, tiny_config


@pytest.mark.parametrize("name", ["..", "."])
def test_a_study_named_only_dots_is_refused(name):
    """It names the summary's folder: ".." put it in data/08_reporting/ itself."""
    with pytest.raises(UserError, match="not only dots"):
        check_study_name(name)
    assert check_study_name("v1.2") == "v1.2"


def test_resume_without_a_checkpoint_warns_naming_the_folder(tmp_path, caplog):
    mistyped = tmp_path / "chekpoints"
    with caplog.at_level(logging.WARNING, logger="cxr_synth.training"):
        train_gan(
            make_tiny_gan(), Blobs(),
            tiny_config(epochs=1, checkpoint_dir=str(mistyped), resume=True),
        )  # fmt: skip
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no checkpoint in" in w and str(mistyped) in w for w in warnings), warnings


def test_a_later_stage_without_the_earlier_one_names_the_stage_to_run_first(workdir):
    """`kedro run --pipelines preprocessing` in a fresh project: the manifest ingestion writes
    is missing. Before: a DatasetError when the first node loaded it."""
    with pytest.raises(UserError) as caught:
        run_kedro(workdir, ["preprocessing"], params=TINY_DEMO)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("Nothing was run: ")
    assert "nih_manifest (data/02_intermediate/nih_manifest.parquet)" in message
    assert "run `kedro run --pipelines ingestion` first" in message
    assert not (workdir / "data/03_primary").exists()  # no node ran


def test_optional_and_demo_made_inputs_do_not_stop_a_run(workdir):
    """The demo's raw data is made when missing, the official split lists are optional."""
    run_kedro(workdir, ["ingestion"], params=TINY_DEMO)
    assert (workdir / "data/02_intermediate/nih_manifest.parquet").is_file()
