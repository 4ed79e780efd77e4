"""The architecture-agnostic GAN training loop (pure PyTorch; no Kedro).

``train_gan(gan, dataset, TrainConfig.from_dict(params), evaluate=..., tracker=...)`` trains any
:class:`~cxr_synth.models.base.GAN` on one device, or on several under ``torchrun`` (DDP). Names
load on first use (``cxr_synth.runtime.lazy``): ``cxr_synth.training.config`` imports no torch.
"""

from cxr_synth.runtime.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "config": ["TrainConfig"],
        "loop": ["TrainResult", "TrainingDiverged", "train_gan"],
        "tracking": ["MlflowTracker", "NullTracker", "Tracker"],
    },
)
