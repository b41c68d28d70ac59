"""Loss functions: equivalences with PyTorch ops, hand-computed values, ignore handling, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from unetkit.constants import IGNORE_INDEX
from unetkit.losses import functional as LF


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # torch.testing.assert_close costs ~1 s of lazy imports (torch.distributed) on first use: keep tests fast.
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.allclose(actual, expected.to(actual.dtype), rtol=1e-5, atol=1e-7, equal_nan=True), (
        f"{actual} != {expected}"
    )


def _batch(n: int = 2, c: int = 4, h: int = 6, w: int = 5, ignore_frac: float = 0.2):
    logits = torch.randn(n, c, h, w, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, c, (n, h, w))
    target[torch.rand(n, h, w) < ignore_frac] = IGNORE_INDEX
    return logits, target


def test_one_hot_ce_equals_torch_cross_entropy_with_ignore() -> None:
    logits, target = _batch()
    expected = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    assert_close(LF.one_hot_cross_entropy(logits, target), expected)
    assert_close(LF.cross_entropy(logits, target), expected)


def test_one_hot_ce_with_class_weights_matches_torch_normalisation() -> None:
    logits, target = _batch()
    weights = [0.5, 2.0, 1.0, 4.0]
    expected = F.cross_entropy(
        logits, target, weight=torch.tensor(weights, dtype=torch.float64), ignore_index=IGNORE_INDEX
    )
    assert_close(LF.one_hot_cross_entropy(logits, target, class_weights=weights), expected)
    # F.cross_entropy divides by the summed weights of the target classes, not by the pixel count.
    valid = target != IGNORE_INDEX
    per_pixel = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX, reduction="none")[valid]
    w_pix = torch.tensor(weights, dtype=torch.float64)[target[valid]]
    assert_close(expected, (w_pix * per_pixel).sum() / w_pix.sum())
    assert not torch.allclose(expected, (w_pix * per_pixel).mean())


def test_one_hot_ce_hand_value() -> None:
    # Two classes, equal logits -> p = 1/2 -> CE = ln 2; the second pixel is ignored.
    logits = torch.zeros(1, 2, 1, 2)
    target = torch.tensor([[[1, IGNORE_INDEX]]])
    assert LF.one_hot_cross_entropy(logits, target).item() == pytest.approx(math.log(2))


@pytest.mark.parametrize(
    "fn",
    [
        LF.one_hot_cross_entropy,
        LF.cross_entropy,
        LF.focal_loss,
        lambda lg, t: LF.soft_dice_loss(lg, t, num_classes=3),
        lambda lg, t: LF.weighted_cross_entropy(lg, t, torch.ones(t.shape)),
    ],
)
def test_all_ignored_gives_zero_with_backward(fn) -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    target = torch.full((1, 4, 4), IGNORE_INDEX)
    loss = fn(logits, target)
    loss.backward()
    assert loss.item() == 0.0
    assert logits.grad is not None and torch.count_nonzero(logits.grad) == 0


def test_focal_gamma_zero_equals_cross_entropy() -> None:
    logits, target = _batch()
    assert_close(
        LF.focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    )


def test_focal_hand_values() -> None:
    logits = torch.zeros(1, 2, 1, 1)  # p_t = 1/2
    target = torch.tensor([[[1]]])
    assert LF.focal_loss(logits, target, gamma=2.0).item() == pytest.approx(0.25 * math.log(2))
    # Binary scalar alpha: alpha for class 1, 1 - alpha for class 0.
    assert LF.focal_loss(logits, target, gamma=2.0, alpha=0.25).item() == pytest.approx(0.0625 * math.log(2))
    assert LF.focal_loss(logits, target * 0, gamma=2.0, alpha=0.25).item() == pytest.approx(
        0.1875 * math.log(2)
    )


def test_focal_down_weights_easy_pixels() -> None:
    logits, target = _batch(ignore_frac=0.0)
    assert LF.focal_loss(logits, target, gamma=2.0) < LF.focal_loss(logits, target, gamma=0.0)


def test_focal_scalar_alpha_needs_two_classes() -> None:
    logits, target = _batch(c=3)
    with pytest.raises(ValueError, match=r"scalar alpha=0.25 is only defined for 2 classes \(got C=3\)"):
        LF.focal_loss(logits, target, alpha=0.25)


def test_weighted_ce_hand_values_and_normalisations() -> None:
    logits = torch.tensor([[[[0.0, 0.0, 5.0]], [[math.log(3.0), 0.0, 0.0]]]])  # (1, 2, 1, 3)
    target = torch.tensor([[[1, 0, IGNORE_INDEX]]])
    weight_map = torch.tensor([[[1.0, 3.0, 100.0]]])  # the ignored pixel's 100 must not count
    ce0 = -math.log(3 / 4)  # pixel 0: softmax(0, ln 3)[1] = 3/4
    ce1 = math.log(2)  # pixel 1: equal logits
    mean = LF.weighted_cross_entropy(logits, target, weight_map)
    assert mean.item() == pytest.approx((1 * ce0 + 3 * ce1) / 2)
    wsum = LF.weighted_cross_entropy(logits, target, weight_map, normalization="weight_sum")
    assert wsum.item() == pytest.approx((1 * ce0 + 3 * ce1) / 4)


def test_weighted_ce_unit_map_equals_ce() -> None:
    logits, target = _batch()
    assert_close(
        LF.weighted_cross_entropy(logits, target, torch.ones(target.shape, dtype=torch.float64)),
        F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX),
    )


def test_soft_dice_hand_values_and_absent_class_rule() -> None:
    # Uniform logits -> p = 1/2 per class; both pixels are class 0, class 1 is absent from the target.
    logits = torch.zeros(1, 2, 1, 2)
    target = torch.zeros(1, 1, 2, dtype=torch.long)
    # Class 0: I = 1, sum p = 1, sum y = 2 -> dice = (2 + 1) / (3 + 1) = 3/4.
    exclude = LF.soft_dice_loss(logits, target, num_classes=2, smooth=1.0)
    assert exclude.item() == pytest.approx(1 - 3 / 4)
    # "include": class 1 scores smooth / (sum p + smooth) = 1 / 2 and enters the mean.
    include = LF.soft_dice_loss(logits, target, num_classes=2, smooth=1.0, classes_absent="include")
    assert include.item() == pytest.approx(1 - (3 / 4 + 1 / 2) / 2)


def test_soft_dice_batch_missing_a_class_averages_present_classes_only() -> None:
    logits, _ = _batch(c=4, ignore_frac=0.0)
    target = torch.randint(0, 3, (2, 6, 5))  # class 3 never occurs
    probs = logits.softmax(1)
    y = F.one_hot(target, 4).permute(0, 3, 1, 2).double()
    dice = (2 * (probs * y).sum((0, 2, 3)) + 1) / (probs.sum((0, 2, 3)) + y.sum((0, 2, 3)) + 1)
    assert_close(LF.soft_dice_loss(logits, target, 4), 1 - dice[:3].mean())
    assert_close(LF.soft_dice_loss(logits, target, 4, classes_absent="include"), 1 - dice.mean())


def test_soft_dice_perfect_prediction_is_near_zero() -> None:
    target = torch.randint(0, 3, (2, 8, 8))
    logits = 30.0 * F.one_hot(target, 3).permute(0, 3, 1, 2).float()
    assert LF.soft_dice_loss(logits, target, num_classes=3).item() < 1e-6


def test_soft_dice_ignores_ignored_pixels() -> None:
    logits, target = _batch(ignore_frac=0.3)
    loss = LF.soft_dice_loss(logits, target, num_classes=4)
    loss.backward()
    ignored = (target == IGNORE_INDEX).unsqueeze(1).expand_as(logits)
    assert torch.count_nonzero(logits.grad[ignored]) == 0
    changed = logits.detach().clone()
    changed[ignored] = 100.0
    assert_close(LF.soft_dice_loss(changed, target, num_classes=4), loss.detach())


@pytest.mark.parametrize(
    "fn",
    [
        LF.one_hot_cross_entropy,
        LF.focal_loss,
        lambda lg, t: LF.focal_loss(lg, t, gamma=0.5),
        lambda lg, t: LF.soft_dice_loss(lg, t, num_classes=4, smooth=0.0),
        lambda lg, t: LF.weighted_cross_entropy(lg, t, torch.rand(t.shape, dtype=torch.float64) * 10),
    ],
)
def test_gradients_finite_even_for_saturated_logits(fn) -> None:
    logits, target = _batch()
    saturated = (logits.detach() * 200).requires_grad_(True)
    for lg in (logits, saturated):
        loss = fn(lg, target)
        loss.backward()
        assert torch.isfinite(loss)
        assert torch.isfinite(lg.grad).all()


def test_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"logits \(2, 3, 4, 4\).*target \(2, 5, 4\)"):
        LF.cross_entropy(torch.zeros(2, 3, 4, 4), torch.zeros(2, 5, 4, dtype=torch.long))


def test_bad_target_values_are_named() -> None:
    target = torch.tensor([[[0, 3], [7, IGNORE_INDEX]]])
    with pytest.raises(ValueError, match=r"values \[3, 7\] outside \[0, 3\) for num_classes=3"):
        LF.soft_dice_loss(torch.zeros(1, 3, 2, 2), target, num_classes=3)


def test_float_target_and_channel_mismatch_rejected() -> None:
    with pytest.raises(TypeError, match="integer class-index"):
        LF.focal_loss(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="logits have 2 channels but num_classes=3"):
        LF.soft_dice_loss(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), num_classes=3)
