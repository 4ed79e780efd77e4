"""Faults: a user's slips that used to pass silently — a study named "..", ``resume: true`` with
an empty or mistyped checkpoint folder."""

import logging

import pytest

from cxr_synth.runtime.errors import UserError
from cxr_synth.study.mlflow_runs import check_study_name
from cxr_synth.training import train_gan
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
