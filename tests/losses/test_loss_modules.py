"""Loss modules and the create_loss factory."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from unetkit.constants import IGNORE_INDEX
from unetkit.losses import (
    CombinedLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    create_loss,
    list_losses,
    register_loss,
)
from unetkit.losses import functional as LF


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # torch.testing.assert_close costs ~1 s of lazy imports (torch.distributed) on first use: keep tests fast.
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.allclose(actual, expected.to(actual.dtype), rtol=1e-5, atol=1e-7, equal_nan=True), (
        f"{actual} != {expected}"
    )


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    target = torch.randint(0, 3, (2, 8, 8))
    target[:, 0, :] = IGNORE_INDEX
    weight_map = torch.rand(2, 8, 8) * 5
    return logits, target, weight_map


def test_create_ce_matches_torch(batch) -> None:
    logits, target, _ = batch
    loss = create_loss("CE", num_classes=3, class_weights=[1.0, 2.0, 0.5])
    assert isinstance(loss, CrossEntropyLoss)
    expected = F.cross_entropy(logits, target, weight=torch.tensor([1.0, 2.0, 0.5]), ignore_index=255)
    assert_close(loss(logits, target), expected)


def test_ce_uses_weight_map_when_given(batch) -> None:
    logits, target, weight_map = batch
    loss = CrossEntropyLoss()
    assert_close(loss(logits, target, weight_map), LF.weighted_cross_entropy(logits, target, weight_map))
    assert not torch.allclose(loss(logits, target, weight_map), loss(logits, target))


def test_weighted_ce_requires_weight_map(batch) -> None:
    logits, target, weight_map = batch
    loss = create_loss("weighted_ce", num_classes=3)
    with pytest.raises(ValueError, match="weighted_ce needs a weight map"):
        loss(logits, target)
    assert_close(loss(logits, target, weight_map), LF.weighted_cross_entropy(logits, target, weight_map))


def test_sum_and_dict_specs(batch) -> None:
    logits, target, _ = batch
    ce = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    dice = LF.soft_dice_loss(logits, target, num_classes=3)
    summed = create_loss("ce + dice", num_classes=3)
    assert isinstance(summed, CombinedLoss)
    assert_close(summed(logits, target), ce + dice)
    weighted = create_loss({"ce": 1.0, "dice": 0.5}, num_classes=3)
    assert_close(weighted(logits, target), ce + 0.5 * dice)
    weighted(logits, target).backward()
    assert torch.isfinite(logits.grad).all()


def test_single_names_build_expected_modules() -> None:
    assert isinstance(create_loss("dice", num_classes=3), DiceLoss)
    focal = create_loss("focal", num_classes=3, class_weights=[1.0, 2.0, 3.0])
    assert isinstance(focal, FocalLoss)
    assert torch.equal(focal.alpha, torch.tensor([1.0, 2.0, 3.0]))
    assert isinstance(create_loss({"dice": 2.0}, num_classes=3), CombinedLoss)


def test_unknown_name_lists_options() -> None:
    with pytest.raises(ValueError, match=r"Did you mean 'dice'\?.*ce, dice, focal, weighted_ce"):
        create_loss("ce+dcie", num_classes=3)


@pytest.mark.parametrize(
    ("spec", "kwargs", "match"),
    [
        ("ce+ce", {}, "repeats a loss"),
        ({"ce": -1.0}, {}, r"loss weight for 'ce' must be a finite number >= 0, got -1.0"),
        ("ce", {"class_weights": [1.0, 2.0]}, "class_weights has 2 entries but num_classes=3"),
    ],
)
def test_create_loss_bad_input(spec, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        create_loss(spec, num_classes=3, **kwargs)


def test_create_loss_rejects_non_spec() -> None:
    with pytest.raises(TypeError, match="loss spec must be a str"):
        create_loss(["ce"], num_classes=3)  # type: ignore[arg-type]


def test_modules_validate_targets(batch) -> None:
    logits, _, _ = batch
    target = torch.full((2, 8, 8), 4)
    for loss in (create_loss("ce+dice", num_classes=3), FocalLoss()):
        with pytest.raises(ValueError, match=r"values \[4\] outside \[0, 3\) for num_classes=3"):
            loss(logits, target)


def test_class_weights_follow_module_device_and_state_dict() -> None:
    loss = CrossEntropyLoss(class_weights=[1.0, 2.0])
    assert "class_weights" in loss.state_dict()
    assert loss.to(torch.float64).class_weights.dtype == torch.float64


def test_combined_loss_rejects_bad_terms() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CombinedLoss([])
    with pytest.raises(TypeError, match="got function"):
        CombinedLoss([(F.cross_entropy, 1.0)])  # type: ignore[list-item]


@pytest.mark.parametrize("name", list_losses())
def test_every_registered_loss_gives_a_finite_scalar_and_gradients(name: str, batch) -> None:
    """Contract over the registry: any loss named in a spec trains (with and without class weights)."""
    logits, target, weight_map = batch
    for class_weights in (None, [1.0, 2.0, 0.5]):
        logits.grad = None
        loss = create_loss(name, num_classes=3, class_weights=class_weights)
        value = loss(logits, target, weight_map)
        assert value.ndim == 0 and torch.isfinite(value)
        value.backward()
        assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
        combined = create_loss({name: 0.5, "dice" if name != "dice" else "ce": 1.0}, num_classes=3)
        assert torch.isfinite(combined(logits, target, weight_map))


def test_register_loss_makes_a_name_usable_in_specs(batch) -> None:
    from unetkit.losses import factory

    @register_loss("test_l1_probs")
    def _l1(num_classes: int, ignore_index: int, class_weights: object) -> torch.nn.Module:
        class L1(torch.nn.Module):
            def forward(self, logits, target, weight_map=None):  # type: ignore[no-untyped-def]
                return logits.softmax(1).abs().mean()

        return L1()

    try:
        logits, target, _ = batch
        assert "test_l1_probs" in list_losses()
        loss = create_loss("ce+test_l1_probs", num_classes=3)
        assert torch.isfinite(loss(logits, target))
        with pytest.raises(ValueError, match="already registered"):
            register_loss("test_l1_probs")(_l1)
    finally:
        factory._LOSSES.pop("test_l1_probs", None)


ONE_CLASS = (
    r"unetkit trains binary segmentation as 2 classes \(softmax over background/foreground\); "
    r"use num_classes=2"
)


@pytest.mark.parametrize("spec", ["ce", "dice", "focal", "weighted_ce", "ce+dice"])
def test_create_loss_refuses_one_class_with_the_binary_advice(spec: str) -> None:
    with pytest.raises(ValueError, match=rf"^num_classes=1: {ONE_CLASS}\.$"):
        create_loss(spec, 1)


@pytest.mark.parametrize("loss", [CrossEntropyLoss(), FocalLoss(), DiceLoss(num_classes=2)])
def test_one_logit_channel_gets_the_binary_advice_not_a_target_range_error(loss: torch.nn.Module) -> None:
    logits, target01 = torch.randn(2, 1, 4, 4), torch.randint(0, 2, (2, 4, 4))
    with pytest.raises(ValueError, match=rf"^logits with one channel: {ONE_CLASS}\.$"):
        loss(logits, target01)


def test_dice_loss_refuses_one_class() -> None:
    with pytest.raises(ValueError, match=ONE_CLASS):
        DiceLoss(num_classes=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gamma": "2"}, TypeError, r"gamma must be a number >= 0 \(e.g. 2.0\), got str: '2'"),
        ({"gamma": None}, TypeError, r"gamma must be a number"),
        ({"gamma": -1.0}, ValueError, r"gamma must be a finite number >= 0"),
        ({"gamma": float("inf")}, ValueError, r"gamma must be a finite number >= 0"),
        ({"alpha": "0.25"}, TypeError, r"alpha must be None, a number in \[0, 1\] or a list"),
        ({"alpha": [1.0, "2"]}, TypeError, r"alpha must be None"),
        ({"alpha": 1.5}, ValueError, r"scalar alpha .* must be in \[0, 1\], got 1.5"),
        ({"alpha": [1.0, -2.0]}, ValueError, r"alpha weights must be finite and >= 0"),
        ({"ignore_index": "255"}, TypeError, r"ignore_index must be an int"),
    ],
)
def test_focal_loss_validates_its_numbers(kwargs: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        FocalLoss(**kwargs)  # type: ignore[arg-type]


def test_focal_loss_accepts_ints_sequences_and_tensors() -> None:
    assert FocalLoss(gamma=2).gamma == 2.0
    assert FocalLoss(alpha=0.25).alpha == 0.25
    for alpha in ([1, 2], (1.0, 2.0), torch.tensor([1.0, 2.0])):
        assert torch.equal(FocalLoss(alpha=alpha).alpha, torch.tensor([1.0, 2.0]))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"gamma must be a number"):
        LF.focal_loss(torch.randn(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), gamma="2")  # type: ignore[arg-type]
