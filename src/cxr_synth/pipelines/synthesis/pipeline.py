"""One synthesis template, instantiated per architecture as ``synthesis.<arch>``, plus Figure 5."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.pipelines import for_architecture, in_stage
from cxr_synth.pipelines.synthesis.nodes import (
    generate_images,
    log_generator_model,
    plot_synthesis_grid,
    select_generator,
    write_synthetic_pngs,
)

SHARED = {"nih_images_index", "params:synthesis", "params:training"}


def architecture_template(architecture: str) -> Pipeline:
    """Generator (catalog weights + spec, or ``synthesis.model_uri``) -> uint8 array -> PNG
    folder, and the generator as an MLflow model with its synthesis record; names get the
    architecture's prefix. The catalog gives None for absent weights and spec: a model URI needs
    no trained generator here."""
    select = update_wrapper(partial(select_generator, architecture=architecture), select_generator)
    return Pipeline(
        [
            Node(
                select,
                inputs=[
                    "generator",
                    "generator_spec",
                    "nih_images_index",
                    "params:training",
                    "params:synthesis",
                ],
                outputs="generator_model",
                name="select_generator",
            ),
            Node(
                generate_images,
                inputs=["generator_model", "params:synthesis"],
                outputs=["synthetic_images", "sampling_cost"],
                name="generate_images",
                tags=["gpu"],
            ),
            Node(
                log_generator_model,
                inputs=["generator_model", "params:synthesis"],
                outputs=["mlflow_model", "synthesis_record"],
                name="log_generator_model",
            ),
            Node(
                write_synthetic_pngs,
                inputs="synthetic_images",
                outputs="synthetic_pngs",
                name="write_synthetic_pngs",
            ),
        ]
    )


def architecture_pipeline(architecture: str) -> Pipeline:
    """``synthesize_<architecture>``: one architecture's synthetic images."""
    return for_architecture(
        architecture_template(architecture), architecture, "synthesis", shared=SHARED
    )


def grid_pipeline(architectures: tuple[str, ...] = ARCHITECTURES) -> Pipeline:
    """Real test images and every architecture's first samples in one figure."""
    grid = Node(
        plot_synthesis_grid,
        inputs={
            "real_images": "nih_images_array",
            "index": "nih_images_index",
            "synthesis": "params:synthesis",
            **{name: f"{name}_synthetic_images" for name in architectures},
        },
        outputs="synthesis_grid@matplotlib",
        name="plot_synthesis_grid",
    )
    return in_stage(Pipeline([grid]), "synthesis")


def create_pipelines() -> dict[str, Pipeline]:
    """``synthesize_<arch>`` for every architecture."""
    return {f"synthesize_{name}": architecture_pipeline(name) for name in ARCHITECTURES}


def create_pipeline(**kwargs) -> Pipeline:
    """Every architecture's synthetic images and the comparison grid (``synthesis``)."""
    return sum(create_pipelines().values(), Pipeline([])) + grid_pipeline()
