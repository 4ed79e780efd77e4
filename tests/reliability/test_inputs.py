"""Fault: bad parameters and bad data. Each test tries one row of the input-validation table;
parameters are refused before any node runs (the demo data is not even generated)."""

import pytest
from kedro.validation.exceptions import ParameterValidationError

from cxr_synth.runtime.errors import find_user_error
from tests.conftest import TINY_DEMO, run_kedro


def _refused(workdir, pipelines, params) -> str:
    with pytest.raises(ParameterValidationError) as error:
        run_kedro(workdir, pipelines, params={**TINY_DEMO, **params})
    assert not (workdir / "data/01_raw/nih").exists()  # refused before any work started
    return str(find_user_error(error.value))  # as the CLI prints it


def test_misspelt_keys_are_refused_naming_the_closest_valid_one(workdir):
    message = _refused(
        workdir,
        ["ingestion", "preprocessing", "synthesis"],
        {
            "ingestion.max_image": 10,
            "ingestion.on_missing_image": "fail",
            "preprocessing.resolutoin": 64,
            "synthesis.n_image": 5,
        },
    )
    for line in (
        "ingestion.max_image: unknown key; did you mean 'max_images'?",
        "ingestion.on_missing_image: unknown key; did you mean 'on_missing_images'?",
        "preprocessing.resolutoin: unknown key; did you mean 'resolution'?",
        "synthesis.n_image: unknown key; did you mean 'n_images'?",
    ):
        assert line in message


def test_a_resolution_no_generator_supports_is_refused_at_start(workdir):
    message = _refused(workdir, ["preprocessing"], {"preprocessing.resolution": 100})
    assert "preprocessing.resolution: Input should be 32, 64, 128, 256 or 512 (got 100)" in message


def test_bad_loop_values_are_refused_before_the_reference_statistics(workdir):
    message = _refused(
        workdir, ["train_dcgan"], {"training.loop.epochs": -1, "dcgan.loop.batch_size": 0}
    )
    assert "training.loop.epochs: Input should be greater than or equal to 1 (got -1)" in message
    assert "dcgan.loop.batch_size: Input should be greater than or equal to 1 (got 0)" in message
    assert not (workdir / "data/04_feature/fid_reference_stats.npz").exists()


def test_bad_architecture_options_are_refused_at_start(workdir):
    message = _refused(
        workdir, ["train_wgan_gp"], {"wgan_gp.model.options": {"g_width": 0, "d_norm": "batch"}}
    )
    assert "wgan_gp.model.options" in message and "BatchNorm" in message


def test_a_misspelt_section_is_refused_at_start(workdir):
    from cxr_synth.pipelines.configuration import UnknownSection

    with pytest.raises(UnknownSection, match="'trainng' \\(did you mean 'training'\\?\\)"):
        run_kedro(workdir, ["ingestion"], params={**TINY_DEMO, "trainng.loop.epochs": 3})
    assert not (workdir / "data/01_raw/nih").exists()
