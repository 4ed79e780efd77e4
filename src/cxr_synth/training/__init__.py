"""The architecture-agnostic GAN training loop (pure PyTorch; no Kedro).

``train_gan(gan, dataset, TrainConfig.from_dict(params), evaluate=..., tracker=...)`` trains any
:class:`~cxr_synth.models.base.GAN` on one device, or on several under ``torchrun`` (DDP). Names
load on first use (``cxr_synth.runtime.lazy``): ``cxr_synth.training.loop_config`` imports no
torch.
"""

from cxr_synth.runtime.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "driver": ["TrainedGenerator", "fid_evaluator", "train_generator"],
        "loop": ["TrainResult", "TrainingDiverged", "train_gan"],
        "loop_config": ["TrainConfig"],
        "tracking": ["MlflowTracker", "NullTracker", "Tracker"],
    },
)
