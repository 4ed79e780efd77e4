"""Preprocessing: decode and resize chest X-rays (and lung masks) into uint8 arrays."""

from cxr_synth.pipelines.preprocessing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
