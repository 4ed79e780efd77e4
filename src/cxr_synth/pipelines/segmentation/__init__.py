"""U-Net lung segmentation without / with classic / with each GAN's synthetic pairs."""

from cxr_synth.pipelines.segmentation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
