import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from cxr_synth.models.registry import build_gan
from cxr_synth.pipelines.synthesis.nodes import (
    generate_images,
    plot_synthesis_grid,
    write_synthetic_pngs,
)
from cxr_synth.pipelines.synthesis.params import SynthesisParams
from cxr_synth.pipelines.synthesis.pipeline import create_pipeline

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


def test_generate_images_is_seeded_uint8_and_independent_of_batch_size():
    state, spec = _trained("dcgan", {"g_width": 4, "d_width": 4})
    images = generate_images(state, spec, SynthesisParams.parse(SYNTHESIS))
    assert images.shape == (10, 32, 32) and images.dtype == np.uint8
    again = generate_images(state, spec, SynthesisParams.parse({**SYNTHESIS, "batch_size": 10}))
    np.testing.assert_array_equal(images, again)
    other = generate_images(state, spec, SynthesisParams.parse({**SYNTHESIS, "seed": 1}))
    assert not np.array_equal(images, other)


def test_stylegan_truncation_psi_is_applied():
    state, spec = _trained("stylegan", STYLEGAN)
    full = generate_images(state, spec, SynthesisParams.parse({**SYNTHESIS, "n_images": 4}))
    truncated = generate_images(
        state, spec, SynthesisParams.parse({**SYNTHESIS, "n_images": 4, "truncation_psi": 0.0})
    )
    assert full.shape == truncated.shape == (4, 32, 32)
    assert truncated.astype(int).std(axis=0).mean() < full.astype(int).std(axis=0).mean()


def test_wrong_weights_are_refused():
    state, spec = _trained("dcgan", {"g_width": 4, "d_width": 4})
    with pytest.raises(RuntimeError):
        generate_images(
            state,
            {**spec, "options": {"g_width": 8, "d_width": 4}},
            SynthesisParams.parse(SYNTHESIS),
        )


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


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"n_image": 5}, "n_image: unknown key; did you mean 'n_images'?"),
        ({"n_images": 0}, "n_images: Input should be greater than or equal to 1"),
        ({"device": "gpu"}, "device: must be auto, cpu, cuda, cuda:N or mps"),
        ({"grid": {"real_splits": ["holdout"]}}, "grid.real_splits.0: Input should be"),
    ],
)
def test_bad_synthesis_parameters_name_the_key(override, message):
    from cxr_synth.schema import ParameterError

    with pytest.raises(ParameterError, match=message.replace("?", r"\?")):
        SynthesisParams.model_validate({**SYNTHESIS, **override})
