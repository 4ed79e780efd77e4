"""U-Net lung segmentation in pure PyTorch (no Kedro): data, metrics, training, evaluation.

``train_unet(SegmentationDataset(images, masks, rows, build_classic_augmentation()), val_images,
val_masks, SegmentationConfig.from_dict(params))`` returns the best model by validation Dice;
``evaluate_unet(model, images, masks)`` scores it per image; ``unet_spec`` and ``build_unets``
save and rebuild trained U-Nets (one state dict per seed).
"""

from cxr_synth.segmentation.compare import PairedDifference, paired_difference
from cxr_synth.segmentation.data import SegmentationDataset, build_classic_augmentation
from cxr_synth.segmentation.evaluate import evaluate_unet, predict_masks
from cxr_synth.segmentation.intensity import normalise_intensity
from cxr_synth.segmentation.metrics import dice_bce_loss, dice_per_image, iou_per_image
from cxr_synth.segmentation.saved import build_unets, unet_spec
from cxr_synth.segmentation.train import SegmentationConfig, SegmentationResult, train_unet

__all__ = [
    "PairedDifference",
    "SegmentationConfig",
    "SegmentationDataset",
    "SegmentationResult",
    "build_classic_augmentation",
    "build_unets",
    "dice_bce_loss",
    "dice_per_image",
    "evaluate_unet",
    "iou_per_image",
    "normalise_intensity",
    "paired_difference",
    "predict_masks",
    "train_unet",
    "unet_spec",
]
