"""Ingestion: NIH ChestX-ray14 metadata -> validated, filtered, patient-split manifest."""

from cxr_synth.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
