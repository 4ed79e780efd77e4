"""U-Net lung segmentation in pure PyTorch (no Kedro): data, metrics, training, evaluation.

``train_unet(SegmentationDataset(images, masks, rows, build_classic_augmentation()), val_images,
val_masks, SegmentationConfig.from_dict(params))`` returns the best model by validation Dice;
``evaluate_unet(model, images, masks)`` scores it per image; ``unet_spec`` and ``build_unets``
save and rebuild trained U-Nets (one state dict per seed); ``run_experiment`` does all of it for
one augmentation method, one U-Net per seed. Names load on first use
(``cxr_synth.runtime.lazy``): ``SegmentationConfig`` imports no torch.
"""

from cxr_synth.runtime.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "compare": [
            "PairedDifference",
            "method_dice_table",
            "paired_difference",
            "study_dice_markdown",
            "study_dice_table",
        ],
        "config": ["SegmentationConfig"],
        "data": ["SegmentationDataset", "build_classic_augmentation", "deform_masks"],
        "evaluate": ["evaluate_unet", "predict_masks"],
        "experiment": ["Experiment", "run_experiment"],
        "external": ["evaluate_saved_unets"],
        "figures": ["dice_figure", "study_dice_figure"],
        "intensity": ["normalise_intensity"],
        "metrics": ["dice_bce_loss", "dice_per_image", "iou_per_image"],
        "saved": ["build_unets", "unet_spec"],
        "train": ["SegmentationResult", "train_unet"],
    },
)
