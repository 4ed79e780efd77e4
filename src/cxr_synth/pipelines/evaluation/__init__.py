"""Metrics of the synthetic images: ``evaluate_<arch>`` per architecture and ``evaluation``
(all of them, the comparison table and its figures)."""

from cxr_synth.pipelines.evaluation.pipeline import create_pipeline, create_pipelines

__all__ = ["create_pipeline", "create_pipelines"]
