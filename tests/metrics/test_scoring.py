"""score_predictions / ScoreAccumulator: torch-free scoring with the numbers of SegmentationMetrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unetkit.constants import IGNORE_INDEX
from unetkit.metrics import ScoreAccumulator, SegmentationMetrics, score_predictions
from unetkit.metrics.functional import confusion_matrix, scores_from_confusion


def _random_pairs(num_classes: int, count: int = 4, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(count):
        target = rng.integers(0, num_classes, (9 + i, 13))
        pred = np.where(rng.random(target.shape) < 0.7, target, rng.integers(0, num_classes, target.shape))
        target[rng.random(target.shape) < 0.1] = IGNORE_INDEX
        pairs.append((pred.astype(np.uint8), target.astype(np.int64)))
    return pairs


@pytest.mark.parametrize(("num_classes", "isbi"), [(4, False), (2, True)])
def test_same_numbers_as_the_training_metric(num_classes: int, isbi: bool) -> None:
    pairs = _random_pairs(num_classes)
    metric = SegmentationMetrics(num_classes, isbi=isbi)
    for pred, target in pairs:
        metric.update(torch.from_numpy(pred.astype(np.int64))[None], torch.from_numpy(target)[None])
    expected = metric.compute()
    got = score_predictions(pairs, num_classes, isbi=isbi)
    # The scoring path adds what the scores are made of: predicted pixels and the confusion matrix.
    assert sorted(got) == sorted([*expected, "predicted", "confusion"])
    for key, value in expected.items():
        np.testing.assert_allclose(np.asarray(got[key], dtype=np.float64), value.double().numpy(), rtol=1e-12)
    assert isinstance(got["miou"], np.floating) and isinstance(got["iou"], np.ndarray)
    np.testing.assert_array_equal(got["confusion"], metric.confmat.numpy())
    np.testing.assert_array_equal(got["predicted"], metric.confmat.numpy().sum(0))


def test_accumulator_pools_pixels_over_images() -> None:
    # Image 1: 1 of 1 foreground pixels right; image 2: 0 of 3. Pooled fg IoU 1/4, not the mean 1/2.
    acc = ScoreAccumulator(2)
    acc.update(np.array([[1, 0]]), np.array([[1, 0]]))
    acc.update(np.array([[0, 0, 0, 0]]), np.array([[1, 1, 1, 0]]))
    scores = acc.compute()
    assert acc.images == 2
    assert scores["iou"][1] == pytest.approx(1 / 4)
    assert scores["pixel_accuracy"] == pytest.approx(3 / 6)


def test_numpy_and_torch_confusion_and_scores_agree() -> None:
    pred, target = _random_pairs(5, count=1, seed=3)[0]
    cm_np = confusion_matrix(pred, target, 5)
    cm_t = confusion_matrix(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(target), 5)
    assert isinstance(cm_np, np.ndarray) and isinstance(cm_t, torch.Tensor)
    np.testing.assert_array_equal(cm_np, cm_t.numpy())
    s_np, s_t = scores_from_confusion(cm_np), scores_from_confusion(cm_t)
    assert s_t["iou"].dtype == torch.float64 and s_t["support"].dtype == torch.int64
    for key in s_np:
        np.testing.assert_array_equal(np.asarray(s_np[key]), s_t[key].numpy())


def test_input_errors() -> None:
    with pytest.raises(ValueError, match=r"target contains values \[7\] outside \[0, 2\)"):
        score_predictions([(np.zeros((2, 2), np.uint8), np.full((2, 2), 7))], 2)
    with pytest.raises(ValueError, match="Shape mismatch"):
        score_predictions([(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.int64))], 2)
    with pytest.raises(TypeError, match="integer class maps"):
        score_predictions([(np.zeros((2, 2)), np.zeros((2, 2), np.int64))], 2)
    with pytest.raises(ValueError, match="isbi=True needs binary data"):
        ScoreAccumulator(3, isbi=True)
    with pytest.raises(ValueError, match="one \\(H, W\\) class map"):
        ScoreAccumulator(2).update(np.zeros((1, 2, 2), np.uint8), np.zeros((1, 2, 2), np.int64))


def test_nothing_scored_gives_nan() -> None:
    scores = score_predictions([], 3)
    assert math.isnan(scores["miou"]) and math.isnan(scores["pixel_accuracy"])


def test_predicted_pixels_and_confusion_count_every_scored_pixel_void_excluded() -> None:
    # Truth: class 0 x2, class 1 x2, class 2 x1, one void pixel; the model never outputs class 2.
    pred = np.array([[0, 1, 1], [0, 0, 1]])
    truth = np.array([[0, 1, 2], [0, 1, IGNORE_INDEX]])
    scores = score_predictions([(pred, truth)], 3)
    np.testing.assert_array_equal(scores["confusion"], [[2, 0, 0], [1, 1, 0], [0, 1, 0]])
    assert scores["confusion"].dtype == np.int64 and scores["confusion"].sum() == 5  # the void pixel is out
    np.testing.assert_array_equal(scores["predicted"], [3, 2, 0])
    np.testing.assert_array_equal(scores["support"], [2, 2, 1])
