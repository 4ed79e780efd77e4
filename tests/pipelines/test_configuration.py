"""The parameter models: every node's parameters are typed, the docs match the models."""

import typing

import pytest

from cxr_synth.pipelines.configuration import (
    SECTIONS,
    check_sections,
    known_sections,
    reference_markdown,
)
from cxr_synth.runtime.schema import StrictModel
from tests.conftest import PROJECT_ROOT


def test_every_params_input_of_every_pipeline_has_a_typed_model():
    """What Kedro's own validation will check: every ``params:`` input maps to a model."""
    from kedro.validation.type_extractor import TypeExtractor

    from cxr_synth.pipeline_registry import register_pipelines

    registered = register_pipelines()
    typed = TypeExtractor(registered).extract_types_from_pipelines()
    inputs = {
        name.removeprefix("params:")
        for pipeline in registered.values()
        for name in pipeline.inputs()
        if name.startswith("params:")
    }
    assert inputs - set(typed) == set()
    assert all(issubclass(typing.get_origin(t) or t, StrictModel) for t in typed.values())


def test_the_reference_docs_match_the_models():
    documented = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    assert documented == reference_markdown() + "\n", (
        "docs/configuration.md is out of date: run `python -m cxr_synth.pipelines.configuration`"
    )


def test_every_key_has_a_meaning():
    rows = [line for line in reference_markdown().splitlines() if line.startswith("| `")]
    assert len(rows) > 100
    assert [row for row in rows if row.rstrip().endswith("|  |")] == []


def test_every_section_in_the_yaml_is_known_and_valid():
    from kedro.config import OmegaConfigLoader

    from cxr_synth import settings

    for env in ("local", "nih"):
        loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base",
                                   default_run_env=env, **{k: v for k, v in
                                   settings.CONFIG_LOADER_ARGS.items() if k != "base_env"
                                   and k != "default_run_env"})  # fmt: skip
        params = loader["parameters"]
        check_sections(params)
        for name, model in SECTIONS.items():
            model.parse(params[name], prefix=name)


@pytest.mark.parametrize("env", ["local", "nih"])
def test_no_environment_replaces_the_papers_model_with_a_tuned_one(env):
    """`proposed` is the paper's model in every environment (sizes aside); the tuned one has its
    own name."""
    from kedro.config import OmegaConfigLoader

    from cxr_synth import settings
    from cxr_synth.models.options import ProposedOptions, ProposedTunedOptions

    args = {k: v for k, v in settings.CONFIG_LOADER_ARGS.items()
            if k not in ("base_env", "default_run_env")}  # fmt: skip
    params = OmegaConfigLoader(
        str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env, **args
    )["parameters"]
    assert params["proposed"]["model"]["architecture"] == "proposed"
    assert ProposedOptions.parse(params["proposed"]["model"]["options"]).paper_deviations() == {}
    assert params["proposed_tuned"]["model"]["architecture"] == "proposed_tuned"
    tuned = ProposedTunedOptions.parse(params["proposed_tuned"]["model"]["options"])
    assert tuned.ema_decay == 0.999 and tuned.negative_slope == 0.2 and tuned.dropout == 0.0


def test_a_misspelt_section_names_the_closest_one():
    from cxr_synth.pipelines.configuration import UnknownSection

    with pytest.raises(UnknownSection, match="'trainng' \\(did you mean 'training'\\?\\)"):
        check_sections({"trainng": {}, "training": {}})
    check_sections({name: {} for name in known_sections()})


def _paths(tree, found=None) -> list[str]:
    """Every ``filepath``/``path``/``checkpoint_root`` string in a config tree."""
    found = [] if found is None else found
    for key, value in tree.items() if isinstance(tree, dict) else enumerate(tree):
        if isinstance(value, dict | list):
            _paths(value, found)
        elif key in ("filepath", "path", "checkpoint_root") and isinstance(value, str):
            found.append(value)
    return found


@pytest.mark.parametrize("env", ["local", "nih"])
def test_data_root_moves_every_output_and_leaves_the_raw_inputs_of_nih_where_they_are(env):
    from kedro.config import OmegaConfigLoader

    from cxr_synth import settings

    args = {k: v for k, v in settings.CONFIG_LOADER_ARGS.items()
            if k not in ("base_env", "default_run_env")}  # fmt: skip

    def paths(runtime_params):
        loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base",
                                   default_run_env=env, runtime_params=runtime_params, **args)  # fmt: skip
        return _paths(loader["catalog"]) + _paths(loader["parameters"])

    default, moved = paths({}), paths({"data_root": "/scratch/job7"})
    assert len(default) == len(moved) > 60
    for before, after in zip(default, moved, strict=True):
        if before.startswith("data/01_raw/") and env == "nih":  # the user's downloads
            assert after == before
        elif before.startswith("data/"):
            assert after == "/scratch/job7/" + before.removeprefix("data/")
        else:
            assert after == before
    assert any(p.startswith("/scratch/job7/08_reporting/") for p in moved)
