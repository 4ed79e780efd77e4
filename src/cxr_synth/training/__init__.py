"""The architecture-agnostic GAN training loop (pure PyTorch; no Kedro).

``train_gan(gan, dataset, TrainConfig.from_dict(params), evaluate=..., tracker=...)`` trains any
:class:`~cxr_synth.models.base.GAN` on one device, or on several under ``torchrun`` (DDP).
"""

from cxr_synth.training.config import TrainConfig
from cxr_synth.training.loop import TrainingDiverged, TrainResult, train_gan
from cxr_synth.training.tracking import MlflowTracker, NullTracker, Tracker

__all__ = [
    "MlflowTracker",
    "NullTracker",
    "TrainConfig",
    "TrainResult",
    "Tracker",
    "TrainingDiverged",
    "train_gan",
]
