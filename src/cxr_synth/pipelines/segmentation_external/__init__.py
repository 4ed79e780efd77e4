"""The saved U-Nets of every segmentation method on an external lung-mask set."""

from cxr_synth.pipelines.segmentation_external.pipeline import create_pipeline

__all__ = ["create_pipeline"]
