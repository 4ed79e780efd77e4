"""Demo data: NIH- and Montgomery-shaped raw data made of procedural phantoms (not clinical)."""

from cxr_synth.pipelines.demo_data.pipeline import create_pipeline

__all__ = ["create_pipeline"]
