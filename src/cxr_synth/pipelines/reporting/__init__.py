"""The study report: one self-contained HTML file (``reporting``)."""

from cxr_synth.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
