"""The aggregate of a multi-seed study: mean ± std tables, learning curves, error bars."""

from cxr_synth.pipelines.study_summary.pipeline import create_pipeline

__all__ = ["create_pipeline"]
