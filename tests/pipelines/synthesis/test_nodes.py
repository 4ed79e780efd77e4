import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from cxr_synth.models.registry import build_gan
from cxr_synth.pipelines.synthesis.nodes import (
    generate_images,
    log_generator_model,
    plot_synthesis_grid,
    select_generator,
    write_synthetic_pngs,
)
from cxr_synth.pipelines.synthesis.params import SynthesisParams
from cxr_synth.pipelines.synthesis.pipeline import create_pipeline
from cxr_synth.pipelines.training.params import TrainingParams
from cxr_synth.runtime.errors import UserError
from cxr_synth.sharing import Generator

SYNTHESIS = {"n_images": 10, "batch_size": 4, "seed": 0, "device": "cpu", "truncation_psi": 1.0}
STYLEGAN = {"g_width": 4, "d_width": 4, "max_width": 4, "w_dim": 8, "mapping_layers": 2}


def _trained(architecture: str, options: dict):
    gan = build_gan(architecture, resolution=32, latent_dim=16, seed=0, **options)
    spec = {
        "architecture": architecture,
        "options": options,
        "resolution": 32,
        "channels": 1,
        "latent_dim": 16,
    }
    return gan.generator.state_dict(), spec


INDEX = pd.DataFrame(
    {"row": range(6), "split": ["train"] * 4 + ["test"] * 2, "patient_id": [1, 1, 2, 3, 4, 4]}
)


def _selected(architecture: str, options: dict, **synthesis) -> Generator:
    state, spec = _trained(architecture, options)
    params = SynthesisParams.parse({**SYNTHESIS, **synthesis})
    return select_generator(
        state, spec, INDEX, TrainingParams.parse({}), params, architecture=architecture
    )


def test_generate_images_is_seeded_uint8_and_independent_of_batch_size():
    generator = _selected("dcgan", {"g_width": 4, "d_width": 4})
    images, cost = generate_images(generator, SynthesisParams.parse(SYNTHESIS))
    assert images.shape == (10, 32, 32) and images.dtype == np.uint8
    assert cost["n_images"] == 10 and cost["images_per_s"] > 0 and cost["device"] == "cpu"
    again, _ = generate_images(generator, SynthesisParams.parse({**SYNTHESIS, "batch_size": 10}))
    np.testing.assert_array_equal(images, again)
    other, _ = generate_images(generator, SynthesisParams.parse({**SYNTHESIS, "seed": 1}))
    assert not np.array_equal(images, other)


def test_stylegan_truncation_psi_is_applied():
    generator = _selected("stylegan", STYLEGAN)
    full, _ = generate_images(generator, SynthesisParams.parse({**SYNTHESIS, "n_images": 4}))
    truncated, _ = generate_images(
        generator, SynthesisParams.parse({**SYNTHESIS, "n_images": 4, "truncation_psi": 0.0})
    )
    assert full.shape == truncated.shape == (4, 32, 32)
    assert truncated.astype(int).std(axis=0).mean() < full.astype(int).std(axis=0).mean()


def test_wrong_weights_are_refused():
    state, spec = _trained("dcgan", {"g_width": 4, "d_width": 4})
    wrong = Generator(state, {**spec, "options": {"g_width": 8, "d_width": 4}})
    with pytest.raises(RuntimeError):
        generate_images(wrong, SynthesisParams.parse(SYNTHESIS))


def test_the_catalog_generator_carries_its_training_counts():
    generator = _selected("dcgan", {"g_width": 4, "d_width": 4})
    assert generator.origin == {"source": "catalog"}
    assert generator.metadata["training_data"] == {
        "training_splits": ["train"],
        "training": {"images": 4, "patients": 3},
        "by_split": {"test": {"images": 2, "patients": 1}, "train": {"images": 4, "patients": 3}},
    }


def test_no_trained_generator_and_no_model_uri_is_a_user_error():
    params = SynthesisParams.parse(SYNTHESIS)
    with pytest.raises(UserError, match=r"run `kedro run --pipelines train_dcgan` first"):
        select_generator(None, None, INDEX, TrainingParams.parse({}), params, architecture="dcgan")


def test_a_model_uri_of_another_architecture_is_refused(tmp_path):
    state, spec = _trained("dcgan", {"g_width": 4, "d_width": 4})
    Generator(state, spec).save(tmp_path)
    params = SynthesisParams.parse({**SYNTHESIS, "model_uri": {"lsgan": str(tmp_path)}})
    with pytest.raises(UserError, match="holds a dcgan generator, not lsgan"):
        select_generator(None, None, INDEX, TrainingParams.parse({}), params, architecture="lsgan")


def test_the_synthesis_record_names_model_run_and_sampling():
    generator = _selected("dcgan", {"g_width": 4, "d_width": 4})
    params = SynthesisParams.parse({**SYNTHESIS, "registered_model_name": "cxr_{architecture}"})
    release, record = log_generator_model(generator, params)
    assert release.generator is generator and release.registered_model_name == "cxr_dcgan"
    assert record["mlflow_run_id"] is None and record["mlflow_model_uri"] is None  # no run
    assert record["source"] == {"source": "catalog"} and record["spec"]["architecture"] == "dcgan"
    assert record["training_data"]["training"] == {"images": 4, "patients": 3}
    assert record["sampling"] == {"n_images": 10, "seed": 0, "truncation_psi": 1.0, "batch_size": 4}
    from_uri = Generator(generator.state_dict, generator.spec, origin={"source": "models:/x/1"})
    assert log_generator_model(from_uri, params)[0].registered_model_name is None


def test_png_partitions_are_lazy_named_images():
    images = np.arange(3 * 32 * 32, dtype=np.uint8).reshape(3, 32, 32)
    partitions = write_synthetic_pngs(images)
    assert list(partitions) == ["synthetic_00000", "synthetic_00001", "synthetic_00002"]
    image = partitions["synthetic_00001"]()
    assert isinstance(image, Image.Image) and image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), images[1])


def test_synthesis_grid_has_a_real_row_and_one_row_per_architecture():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (12, 32, 32), dtype=np.uint8)
    index = pd.DataFrame({"row": np.arange(12), "split": ["train"] * 8 + ["test"] * 4})
    grid = {"n_columns": 3, "real_splits": ["test"], "seed": 0}
    fake = {"dcgan": real[:5], "stylegan": real[5:10]}
    figure = plot_synthesis_grid(real, index, SynthesisParams.parse({"grid": grid}), **fake)
    assert isinstance(figure, Figure) and len(figure.axes) == 3 * 3
    assert [figure.axes[i].get_ylabel() for i in (0, 3, 6)] == ["real", "dcgan", "stylegan"]
    with pytest.raises(ValueError, match="splits"):
        plot_synthesis_grid(
            real, index, SynthesisParams.parse({"grid": {**grid, "real_splits": ["val"]}}), **fake
        )


def test_pipeline_is_namespaced_per_architecture():
    pipeline = create_pipeline()
    assert {"dcgan_generator", "stylegan_generator_spec"} <= pipeline.inputs()
    assert {"proposed_synthetic_pngs", "synthesis_grid@matplotlib"} <= pipeline.outputs()
    assert {"dcgan_mlflow_model", "dcgan_synthesis_record"} <= pipeline.outputs()
    names = {node.name for node in pipeline.nodes}
    assert {"synthesis.dcgan.select_generator", "synthesis.dcgan.log_generator_model"} <= names


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"n_image": 5}, "n_image: unknown key; did you mean 'n_images'?"),
        ({"n_images": 0}, "n_images: Input should be greater than or equal to 1"),
        ({"device": "gpu"}, "device: must be auto, cpu, cuda, cuda:N or mps"),
        ({"grid": {"real_splits": ["holdout"]}}, "grid.real_splits.0: Input should be"),
        ({"model_uri": {"dcgn": "models:/x/1"}}, "model_uri: unknown architectures"),
    ],
)
def test_bad_synthesis_parameters_name_the_key(override, message):
    from cxr_synth.runtime.schema import ParameterError

    with pytest.raises(ParameterError, match=message.replace("?", r"\?")):
        SynthesisParams.model_validate({**SYNTHESIS, **override})
