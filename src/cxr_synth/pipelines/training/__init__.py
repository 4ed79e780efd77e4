"""GAN training: one template pipeline per architecture (``train_<arch>``) and ``train_all``."""

from cxr_synth.pipelines.training.pipeline import create_pipeline, create_pipelines

__all__ = ["create_pipeline", "create_pipelines"]
