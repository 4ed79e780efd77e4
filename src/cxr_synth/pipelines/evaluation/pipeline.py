"""Evaluation: shared real features, one template per architecture (``evaluation.<arch>``),
then the comparison table and its figures."""

from kedro.pipeline import Node, Pipeline

from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.pipelines import for_architecture, in_stage
from cxr_synth.pipelines.evaluation.nodes import (
    build_comparison_table,
    compare_architectures,
    compute_evaluation_reference,
    compute_heldout_features,
    evaluate_architecture,
    plot_closest_pairs,
    plot_distribution_bars,
    plot_similarity_bars,
    promote_best_generator,
    resample_architecture,
)

SHARED = {
    "nih_images_array",
    "evaluation_real_reference",
    "evaluation_baseline",
    "evaluation_heldout_features",
    "params:evaluation",
}


def reference_pipeline() -> Pipeline:
    """Real features, statistics and the real-vs-real baseline, computed once for all."""
    return Pipeline(
        [
            Node(
                compute_evaluation_reference,
                inputs=[
                    "nih_images_array",
                    "nih_images_index",
                    "eval_external_images_array",
                    "eval_external_summary",
                    "params:evaluation",
                ],
                outputs=["evaluation_real_reference", "evaluation_baseline"],
                name="compute_evaluation_reference",
            ),
            Node(
                compute_heldout_features,
                inputs=["nih_images_array", "nih_images_index", "params:evaluation"],
                outputs="evaluation_heldout_features",
                name="compute_heldout_features",
            ),
        ]
    )


def architecture_template() -> Pipeline:
    """Evaluate one architecture's synthetic images (``<arch>_synthetic_images``, its training
    ``<arch>_generator_spec`` and ``<arch>_history``) -> ``<arch>_report``, and its metrics on
    resampled held-out sets -> ``<arch>_resampled_metrics``."""
    return Pipeline(
        [
            Node(
                evaluate_architecture,
                inputs=[
                    "synthetic_images",
                    "nih_images_array",
                    "evaluation_real_reference",
                    "evaluation_baseline",
                    "generator_spec",
                    "history",
                    "sampling_cost",
                    "params:evaluation",
                ],
                outputs="report",
                name="evaluate_architecture",
            ),
            Node(
                plot_closest_pairs,
                inputs=[
                    "report",
                    "synthetic_images",
                    "nih_images_array",
                    "params:evaluation",
                ],
                outputs="closest_pairs@matplotlib",
                name="plot_closest_pairs",
            ),
            Node(
                resample_architecture,
                inputs=[
                    "report",
                    "synthetic_images",
                    "evaluation_heldout_features",
                    "params:evaluation",
                ],
                outputs="resampled_metrics",
                name="resample_architecture",
            ),
        ]
    )


def architecture_pipeline(architecture: str) -> Pipeline:
    """``evaluate_<architecture>``: the shared reference and one architecture's report."""
    return in_stage(reference_pipeline(), "evaluation") + for_architecture(
        architecture_template(), architecture, "evaluation", shared=SHARED
    )


def comparison_pipeline(architectures: tuple[str, ...] = ARCHITECTURES) -> Pipeline:
    """Every architecture's report -> the comparison table (CSV, Markdown, MLflow) and bars;
    their resampled metrics -> the pairwise verdicts, which move the registry's ``best`` alias
    among the generators synthesis registered (their synthesis records name them)."""
    comparison = Pipeline(
        [
            Node(
                build_comparison_table,
                inputs=["evaluation_baseline", *(f"{a}_report" for a in architectures)],
                outputs=["comparison_table", "comparison_table_md", "comparison_metrics"],
                name="build_comparison_table",
            ),
            Node(
                compare_architectures,
                inputs=[f"{a}_resampled_metrics" for a in architectures],
                outputs=["comparison_verdicts", "comparison_verdicts_md"],
                name="compare_architectures",
            ),
            Node(
                promote_best_generator,
                inputs=["comparison_verdicts", *(f"{a}_synthesis_record" for a in architectures)],
                outputs=None,
                name="promote_best_generator",
            ),
            Node(
                plot_distribution_bars,
                inputs=["comparison_table", "evaluation_baseline"],
                outputs="fid_kid_bars@matplotlib",
                name="plot_distribution_bars",
            ),
            Node(
                plot_similarity_bars,
                inputs="comparison_table",
                outputs="ssim_psnr_bars@matplotlib",
                name="plot_similarity_bars",
            ),
        ]
    )
    return in_stage(comparison, "evaluation")


def create_pipelines() -> dict[str, Pipeline]:
    """``evaluate_<arch>`` for every architecture."""
    return {f"evaluate_{name}": architecture_pipeline(name) for name in ARCHITECTURES}


def create_pipeline(**kwargs) -> Pipeline:
    """Every architecture's evaluation and the comparison (``evaluation``)."""
    return sum(create_pipelines().values(), Pipeline([])) + comparison_pipeline()
