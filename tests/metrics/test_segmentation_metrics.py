"""SegmentationMetrics: accumulation, logits input, DDP-style merge, ISBI extras."""

from __future__ import annotations

import math

import pytest
import torch

from unetkit.constants import IGNORE_INDEX
from unetkit.metrics import SegmentationMetrics, confusion_matrix, scores_from_confusion


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # torch.testing.assert_close costs ~1 s of lazy imports (torch.distributed) on first use: keep tests fast.
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.allclose(actual, expected.to(actual.dtype), rtol=1e-5, atol=1e-7, equal_nan=True), (
        f"{actual} != {expected}"
    )


def _data(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.randint(0, 3, (n, 8, 8))
    target[:, 0] = IGNORE_INDEX
    preds = torch.where(torch.rand(n, 8, 8) < 0.6, target, torch.randint(0, 3, (n, 8, 8)))
    return torch.where(target == IGNORE_INDEX, 0, preds), target


def test_batches_accumulate_to_one_shot() -> None:
    preds, target = _data()
    metric = SegmentationMetrics(num_classes=3)
    for i in range(4):
        metric.update(preds[i : i + 1], target[i : i + 1])
    batched = metric.compute()
    one_shot = scores_from_confusion(confusion_matrix(preds, target, 3))
    assert torch.equal(metric.confmat, confusion_matrix(preds, target, 3))
    for key, value in one_shot.items():
        assert_close(batched[key], value)


def test_scores_are_from_totals_not_batch_means() -> None:
    metric = SegmentationMetrics(num_classes=2)
    # Batch 1: 1 pixel, wrong -> IoU(1) = 0. Batch 2: 3 pixels of class 1, right -> IoU(1) = 1.
    metric.update(torch.tensor([[[0]]]), torch.tensor([[[1]]]))
    metric.update(torch.tensor([[[1, 1, 1]]]), torch.tensor([[[1, 1, 1]]]))
    assert metric.compute()["iou"][1].item() == pytest.approx(3 / 4)  # batch mean would be 0.5


def test_logits_and_preds_give_same_result_and_reset() -> None:
    logits = torch.randn(2, 3, 8, 8)
    target = torch.randint(0, 3, (2, 8, 8))
    from_logits = SegmentationMetrics(num_classes=3)
    from_logits.update(logits, target)
    from_preds = SegmentationMetrics(num_classes=3)
    from_preds.update(logits.argmax(1), target)
    assert torch.equal(from_logits.confmat, from_preds.confmat)
    from_logits.reset()
    assert int(from_logits.confmat.sum()) == 0


def test_state_merges_by_sum_like_ddp() -> None:
    preds, target = _data()
    rank0, rank1 = SegmentationMetrics(num_classes=3), SegmentationMetrics(num_classes=3)
    rank0.update(preds[:2], target[:2])
    rank1.update(preds[2:], target[2:])
    rank0.merge_state(rank1)  # applies each state's dist_reduce_fx, as the DDP sync does
    assert torch.equal(rank0.confmat, confusion_matrix(preds, target, 3))


def test_isbi_extras() -> None:
    metric = SegmentationMetrics(num_classes=2, isbi=True)
    cells = torch.tensor([[[1, 1, 1, 1, 1]]])
    split = torch.tensor([[[1, 1, 0, 1, 1]]])
    metric.update(cells, cells)  # rand error 0
    metric.update(split, cells)  # rand error 2/3, one wrong pixel
    metric.update(cells, torch.zeros(1, 1, 5, dtype=torch.long))  # no true cells: rand undefined, skipped
    scores = metric.compute()
    assert scores["rand_error"].item() == pytest.approx(1 / 3)
    assert scores["pixel_error"].item() == pytest.approx(6 / 15)


def test_isbi_rand_error_nan_when_never_defined() -> None:
    metric = SegmentationMetrics(num_classes=2, isbi=True)
    metric.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long))
    assert math.isnan(metric.compute()["rand_error"].item())


def test_errors() -> None:
    with pytest.raises(ValueError, match="isbi=True needs binary data"):
        SegmentationMetrics(num_classes=3, isbi=True)
    metric = SegmentationMetrics(num_classes=3)
    with pytest.raises(ValueError, match="logits have 4 channels, expected num_classes=3"):
        metric.update(torch.randn(1, 4, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="must be integer classes"):
        metric.update(torch.randn(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))


ONE_CLASS = (
    r"unetkit trains binary segmentation as 2 classes \(softmax over background/foreground\); "
    r"use num_classes=2"
)


def test_one_class_is_refused_with_the_binary_advice() -> None:
    from unetkit.metrics import ScoreAccumulator

    with pytest.raises(ValueError, match=rf"^num_classes=1: {ONE_CLASS}\.$"):
        SegmentationMetrics(1)
    with pytest.raises(ValueError, match=rf"^num_classes=1: {ONE_CLASS}\.$"):
        ScoreAccumulator(1)


def test_update_with_numpy_arrays_says_it_takes_tensors() -> None:
    metric = SegmentationMetrics(3)
    preds, target = _data()
    with pytest.raises(
        TypeError, match=r"takes torch tensors; preds_or_logits is a ndarray.*torch\.from_numpy"
    ):
        metric.update(preds.numpy(), target)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"takes torch tensors; target is a ndarray"):
        metric.update(preds, target.numpy())  # type: ignore[arg-type]
    assert int(metric.confmat.sum()) == 0  # nothing was counted
