"""``study_summary``: the seed runs of one study (MLflow, through ``MlflowStudyDataset``) ->
mean ± std table, pairwise verdicts with their intervals, learning curves, bars with error bars, the segmentation Dice table and figure
(``kedro study run`` runs it last)."""

from kedro.pipeline import Node, Pipeline

from cxr_synth.pipelines.study_summary.nodes import (
    build_learning_curves,
    check_study_has_results,
    compare_over_seeds,
    plot_learning_curves,
    plot_seed_bars,
    plot_segmentation_dice,
    select_seed_runs,
    summarise_over_seeds,
    summarise_segmentation,
)


def create_pipeline(**kwargs) -> Pipeline:
    """The aggregate of a multi-seed study (docs/studies.md)."""
    return Pipeline(
        [
            Node(
                select_seed_runs,
                inputs=["study_mlflow_runs", "params:study"],
                outputs="study_runs",
                name="select_seed_runs",
            ),
            Node(
                summarise_over_seeds,
                inputs=["study_mlflow_comparison_tables", "study_runs", "params:study_summary"],
                outputs=["study_seed_table", "study_seed_table_md", "study_seed_metrics"],
                name="summarise_over_seeds",
            ),
            Node(
                compare_over_seeds,
                inputs=["study_mlflow_resampled_metrics", "study_runs"],
                outputs=["study_verdicts", "study_verdicts_md", "study_rank_stability"],
                name="compare_over_seeds",
            ),
            Node(
                build_learning_curves,
                inputs=[
                    "study_mlflow_histories",
                    "study_runs",
                    "study_seed_table",
                    "params:study_summary",
                ],
                outputs="study_learning_curves",
                name="build_learning_curves",
            ),
            Node(
                plot_learning_curves,
                inputs=["study_learning_curves", "study_seed_table"],
                outputs="learning_curves@matplotlib",
                name="plot_learning_curves",
            ),
            Node(
                plot_seed_bars,
                inputs=[
                    "study_seed_table",
                    "study_mlflow_comparison_tables",
                    "study_runs",
                    "params:study_summary",
                ],
                outputs="study_seed_bars@matplotlib",
                name="plot_seed_bars",
            ),
            Node(
                summarise_segmentation,
                inputs=["study_mlflow_segmentation_runs", "study_runs", "params:study_summary"],
                outputs=["study_segmentation_table", "study_segmentation_table_md"],
                name="summarise_segmentation",
            ),
            Node(
                plot_segmentation_dice,
                inputs=["study_segmentation_table", "params:study_summary"],
                outputs="study_segmentation_dice@matplotlib",
                name="plot_segmentation_dice",
            ),
            Node(
                check_study_has_results,
                inputs=["study_runs", "study_seed_table", "study_segmentation_table"],
                outputs=None,
                name="check_study_has_results",
            ),
        ],
        tags=["study_summary"],
    )
