"""Synthetic images from the trained generators: ``synthesize_<arch>`` per architecture and
``synthesis`` (all of them, plus the real-vs-synthetic grid)."""

from cxr_synth.pipelines.synthesis.pipeline import create_pipeline, create_pipelines

__all__ = ["create_pipeline", "create_pipelines"]
