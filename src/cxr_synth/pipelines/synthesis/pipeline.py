"""One synthesis template, instantiated per architecture as ``synthesis.<arch>``, plus Figure 5."""

from kedro.pipeline import Node, Pipeline

from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.pipelines import for_architecture, in_stage
from cxr_synth.pipelines.synthesis.nodes import (
    generate_images,
    plot_synthesis_grid,
    write_synthetic_pngs,
)


def architecture_template() -> Pipeline:
    """Weights + spec -> uint8 array -> PNG folder; names get the architecture's prefix."""
    return Pipeline(
        [
            Node(
                generate_images,
                inputs=["generator", "generator_spec", "params:synthesis"],
                outputs="synthetic_images",
                name="generate_images",
                tags=["gpu"],
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
        architecture_template(), architecture, "synthesis", shared={"params:synthesis"}
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
