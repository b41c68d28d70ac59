"""Confusion matrix, derived scores (hand-computed) and the ISBI measures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassF1Score, MulticlassJaccardIndex

from unetkit.constants import IGNORE_INDEX
from unetkit.metrics.functional import (
    confusion_matrix,
    per_class_counts,
    pixel_error,
    rand_error,
    scores_from_confusion,
)

# 2 x 3 image; the ignored pixel is predicted 0 and must not count.
TARGET = torch.tensor([[[0, 1, 2], [1, 1, IGNORE_INDEX]]])
PREDS = torch.tensor([[[0, 2, 2], [1, 0, 0]]])


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # torch.testing.assert_close costs ~1 s of lazy imports (torch.distributed) on first use: keep tests fast.
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.allclose(actual, expected.to(actual.dtype), rtol=1e-5, atol=1e-7, equal_nan=True), (
        f"{actual} != {expected}"
    )


def test_confusion_matrix_hand_computed() -> None:
    cm = confusion_matrix(PREDS, TARGET, num_classes=3)
    # rows = target, cols = prediction: (0->0), (1->2), (2->2), (1->1), (1->0).
    expected = torch.tensor([[1, 0, 0], [1, 1, 1], [0, 0, 1]])
    assert cm.dtype == torch.int64
    assert torch.equal(cm, expected)
    counts = per_class_counts(cm)
    assert counts["tp"].tolist() == [1, 1, 1]
    assert counts["fp"].tolist() == [1, 0, 1]
    assert counts["fn"].tolist() == [0, 2, 0]
    assert counts["support"].tolist() == [1, 3, 1]


def test_scores_hand_computed() -> None:
    scores = scores_from_confusion(confusion_matrix(PREDS, TARGET, num_classes=3))
    # IoU = tp / (tp + fp + fn) = 1/2, 1/3, 1/2; Dice = 2tp / (2tp + fp + fn) = 2/3, 1/2, 2/3.
    assert_close(scores["iou"], torch.tensor([0.5, 1 / 3, 0.5], dtype=torch.float64))
    assert_close(scores["dice"], torch.tensor([2 / 3, 0.5, 2 / 3], dtype=torch.float64))
    assert scores["miou"].item() == pytest.approx(4 / 9)
    assert scores["mean_dice"].item() == pytest.approx(11 / 18)
    assert scores["pixel_accuracy"].item() == pytest.approx(3 / 5)


def test_absent_class_is_nan_and_excluded_from_means() -> None:
    scores = scores_from_confusion(confusion_matrix(PREDS, TARGET, num_classes=4))
    assert math.isnan(scores["iou"][3].item()) and math.isnan(scores["dice"][3].item())
    assert scores["miou"].item() == pytest.approx(4 / 9)  # same as with 3 classes
    assert scores["mean_dice"].item() == pytest.approx(11 / 18)


def test_class_only_predicted_counts_as_zero() -> None:
    target = torch.tensor([[[0, 0]]])
    preds = torch.tensor([[[0, 1]]])
    scores = scores_from_confusion(confusion_matrix(preds, target, num_classes=2))
    assert scores["iou"].tolist() == [0.5, 0.0]
    assert scores["miou"].item() == pytest.approx(0.25)


def test_all_empty_masks_give_nan() -> None:
    target = torch.full((1, 2, 3), IGNORE_INDEX)
    scores = scores_from_confusion(confusion_matrix(PREDS, target, num_classes=3))
    for key in ("miou", "mean_dice", "pixel_accuracy"):
        assert math.isnan(scores[key].item())
    assert torch.isnan(scores["iou"]).all()


def test_ignored_pixels_do_not_count() -> None:
    other = PREDS.clone()
    other[0, 1, 2] = 2  # the ignored pixel
    assert torch.equal(confusion_matrix(other, TARGET, 3), confusion_matrix(PREDS, TARGET, 3))


def test_agrees_with_torchmetrics_where_defined() -> None:
    target = torch.randint(0, 4, (3, 16, 16))
    target[:, :2] = IGNORE_INDEX
    preds = torch.randint(0, 4, (3, 16, 16))
    preds[target == 2] = 2  # make class 2 better than chance
    scores = scores_from_confusion(confusion_matrix(preds, target, 4))
    jaccard = MulticlassJaccardIndex(num_classes=4, average="none", ignore_index=IGNORE_INDEX)
    f1 = MulticlassF1Score(num_classes=4, average="none", ignore_index=IGNORE_INDEX)
    assert_close(scores["iou"].float(), jaccard(preds, target))
    assert_close(scores["dice"].float(), f1(preds, target))


@pytest.mark.parametrize(
    ("preds", "target", "exc", "match"),
    [
        (PREDS, torch.tensor([[[0, 3, 2], [1, 7, 255]]]), ValueError, r"target contains values \[3, 7\]"),
        (torch.tensor([[[0, 5, 2], [1, 0, 0]]]), TARGET, ValueError, r"preds contain values \[5\]"),
        (PREDS[:, :1], TARGET, ValueError, r"preds \(1, 1, 3\) and target \(1, 2, 3\)"),
        (PREDS.float(), TARGET, TypeError, "argmax"),
    ],
)
def test_confusion_matrix_errors(preds, target, exc, match) -> None:
    with pytest.raises(exc, match=match):
        confusion_matrix(preds, target, num_classes=3)


def test_pixel_error_hand_case() -> None:
    pred = np.array([[0, 1], [1, 1]])
    target = np.array([[0, 1], [0, IGNORE_INDEX]])
    assert pixel_error(pred, target) == pytest.approx(1 / 3)
    assert pixel_error(torch.tensor(pred), torch.tensor(pred)) == 0.0


def test_rand_error_identical_split_and_merge() -> None:
    cells = np.array([[1, 1, 0, 1, 1], [1, 1, 0, 1, 1]])
    assert rand_error(cells, cells) == 0.0
    # Truth: one cell of 5 pixels; prediction splits it with a membrane pixel into sizes 2 | 1 (membrane) | 2.
    # Pairs: sum p_ij^2 - n = (4 + 1 + 4) - 5 = 4; truth sum a^2 - n = 25 - 5 = 20; pred sum b^2 - n = 4.
    # F = 4 / (0.5 * 20 + 0.5 * 4) = 1/3 -> error 2/3.
    assert rand_error(np.array([[1, 1, 0, 1, 1]]), np.array([[1, 1, 1, 1, 1]])) == pytest.approx(2 / 3)
    # Merge: truth 2 + 2 (membrane ignored), prediction one segment of 4 -> F = 4 / (0.5 * 4 + 0.5 * 12).
    assert rand_error(np.array([[1, 1, 1, 1, 1]]), np.array([[1, 1, 0, 1, 1]])) == pytest.approx(0.5)


def test_rand_error_undefined_without_foreground_pairs() -> None:
    assert math.isnan(rand_error(np.ones((2, 2), int), np.zeros((2, 2), int)))
