import pytest
import torch

from cxr_synth.segmentation.metrics import dice_bce_loss, dice_per_image, iou_per_image


def _square(top: int, left: int, side: int, size: int = 8) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_identical_masks_score_one():
    mask = torch.stack([_square(1, 1, 3), _square(2, 4, 4)])
    assert torch.equal(dice_per_image(mask, mask), torch.ones(2, dtype=torch.float64))
    assert torch.equal(iou_per_image(mask, mask), torch.ones(2, dtype=torch.float64))


def test_disjoint_masks_score_zero():
    pred, target = _square(0, 0, 2)[None], _square(4, 4, 2)[None]
    assert dice_per_image(pred, target).item() == 0.0
    assert iou_per_image(pred, target).item() == 0.0


def test_known_overlap_matches_closed_form():
    # 4x4 and 4x4 squares shifted by 2 columns: overlap 8, sizes 16 + 16, union 24
    pred, target = _square(0, 0, 4)[None], _square(0, 2, 4)[None]
    assert dice_per_image(pred, target).item() == pytest.approx(2 * 8 / 32)
    assert iou_per_image(pred, target).item() == pytest.approx(8 / 24)


def test_scores_are_per_image_not_pooled():
    pred = torch.stack([_square(0, 0, 4), _square(0, 0, 1)])
    target = torch.stack([_square(0, 0, 4), _square(4, 4, 4)])
    assert dice_per_image(pred, target).tolist() == [1.0, 0.0]


def test_empty_versus_empty_is_one_and_empty_versus_full_zero():
    empty, full = torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)  # (N, 1, H, W) floats
    assert dice_per_image(empty, empty).item() == 1.0
    assert iou_per_image(empty, empty).item() == 1.0
    assert dice_per_image(empty, full).item() == 0.0
    assert iou_per_image(full, empty).item() == 0.0


def test_rejects_non_binary_input():
    with pytest.raises(ValueError, match="binary"):
        dice_per_image(torch.rand(1, 8, 8), torch.ones(1, 8, 8))


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differ"):
        iou_per_image(torch.ones(1, 8, 8), torch.ones(2, 8, 8))


def test_loss_is_lower_for_a_better_prediction():
    target = torch.stack([_square(1, 1, 5)]).float()[:, None]
    good = (target * 2 - 1) * 5  # confident and right
    bad = -good  # confident and wrong
    vague = torch.zeros_like(target)
    assert dice_bce_loss(good, target) < dice_bce_loss(vague, target) < dice_bce_loss(bad, target)
    assert dice_bce_loss(good, target).item() < 0.05


def test_loss_is_bce_plus_one_minus_soft_dice():
    logits, target = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    soft_dice = (2 * 0.5 + 1) / (4 * 0.5 + 1 + 1)
    assert dice_bce_loss(logits, target).item() == pytest.approx(bce.item() + 1 - soft_dice)


def test_loss_gradients_flow_to_the_logits():
    logits = torch.zeros(2, 1, 4, 4, requires_grad=True)
    dice_bce_loss(logits, torch.ones(2, 1, 4, 4)).backward()
    assert (logits.grad < 0).all()  # raising every logit lowers the loss
