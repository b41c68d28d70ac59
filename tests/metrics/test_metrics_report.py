"""Metrics table and flat dict."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unetkit.metrics import (
    confusion_matrix,
    format_metrics_table,
    score_predictions,
    scores_from_confusion,
    scores_to_flat_dict,
)
from unetkit.metrics.report import confusion_record, never_predicted, never_predicted_line

NAMES = ["Sky", "Road", "Car", "Bike"]


def _scores() -> dict[str, torch.Tensor]:
    target = torch.tensor([[[0, 1, 2], [1, 1, 255]]])
    preds = torch.tensor([[[0, 2, 2], [1, 0, 0]]])
    return scores_from_confusion(confusion_matrix(preds, target, num_classes=4))  # Bike absent


def test_table_rows_and_absent_class() -> None:
    table = format_metrics_table(_scores(), NAMES)
    lines = table.splitlines()
    assert lines[0] == "| class | IoU | Dice | pixels |"
    assert "| Road | 0.3333 | 0.5000 | 3 |" in lines
    assert "| Bike | n/a (absent) | n/a (absent) | 0 |" in lines
    assert "mean IoU: 0.4444" in lines
    assert "mean Dice: 0.6111" in lines
    assert "pixel accuracy: 0.6000" in lines


def test_flat_dict() -> None:
    flat = scores_to_flat_dict(_scores(), NAMES)
    assert flat["iou/Sky"] == pytest.approx(0.5)
    assert flat["dice/Road"] == pytest.approx(0.5)
    assert flat["support/Road"] == 3.0
    assert flat["miou"] == pytest.approx(4 / 9)
    assert math.isnan(flat["iou/Bike"])
    assert all(isinstance(v, float) for v in flat.values())
    assert set(flat) == {"pixel_accuracy", "miou", "mean_dice"} | {
        f"{k}/{n}" for k in ("iou", "dice", "support") for n in NAMES
    }


def test_class_name_count_mismatch() -> None:
    with pytest.raises(ValueError, match="class_names has 3 names but scores have 4 classes"):
        format_metrics_table(_scores(), NAMES[:3])
    with pytest.raises(ValueError, match="class_names has 3 names"):
        scores_to_flat_dict(_scores(), NAMES[:3])


def _never_scores() -> dict[str, object]:
    """4 classes scored by the scoring path: Car (2) is in the truth but never predicted, Bike (3) absent."""
    truth = np.array([[0, 1, 2], [1, 1, 2]])
    pred = np.array([[0, 1, 1], [1, 0, 0]])
    return score_predictions([(pred, truth)], 4)


def test_a_class_never_predicted_is_named_in_its_row_and_on_a_line_of_its_own() -> None:
    scores = _never_scores()
    assert never_predicted(scores, NAMES) == ["Car"]  # not Bike: absent from the truth, nothing expected
    lines = format_metrics_table(scores, NAMES, split="val", hint="train longer").splitlines()
    assert lines[0] == "| class | IoU | Dice | pixels | predicted |"
    assert "| Car | 0.0000 | 0.0000 | 2 | 0, never predicted |" in lines
    assert "| Road | 0.5000 | 0.6667 | 3 | 3 |" in lines
    assert "| Bike | n/a (absent) | n/a (absent) | 0 | 0 |" in lines
    assert lines[-1] == "1 of 4 classes never predicted on val: Car; train longer"
    # No split, no hint (predict, kmeans): the line still names the class.
    assert never_predicted_line(scores, NAMES) == "1 of 4 classes never predicted: Car"


def test_no_line_when_every_class_of_the_truth_is_predicted() -> None:
    truth = np.array([[0, 1, 2, 3]])
    scores = score_predictions([(truth.copy(), truth)], 4)
    assert never_predicted(scores, NAMES) == [] and never_predicted_line(scores, NAMES, "val", "x") == ""
    assert "never predicted" not in format_metrics_table(scores, NAMES, split="val", hint="x")


def test_flat_dict_gains_predicted_pixels_and_leaves_the_matrix_to_its_record() -> None:
    scores = _never_scores()
    flat = scores_to_flat_dict(scores, NAMES)
    assert flat["predicted/Road"] == 3.0 and flat["predicted/Car"] == 0.0 and flat["predicted/Sky"] == 3.0
    assert "confusion" not in flat and all(isinstance(v, float) for v in flat.values())
    record = confusion_record(scores, NAMES)
    assert record["classes"] == NAMES and record["rows"] == "true class"
    assert record["counts"] == [[1, 0, 0, 0], [1, 2, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]
    assert confusion_record(_scores(), NAMES) == {}  # the training metric's dict holds no matrix


def test_the_table_ends_with_what_the_all_majority_baseline_scores() -> None:
    # Trial 28: a 1x1 pixel classifier scored pixel error 0.2080 where predicting the majority everywhere
    # gives 0.2081, and nothing said so. Truth of _scores(): Sky 1, Road 3, Car 1 pixels, Bike absent.
    lines = format_metrics_table(_scores(), NAMES).splitlines()
    baseline = "baseline (every pixel Road, the most frequent class): pixel accuracy 0.6000, mean IoU 0.2000"
    assert lines[-1] == baseline
    # The baseline scored as a prediction gives the same numbers (Bike absent: not in the mean).
    target = torch.tensor([[[0, 1, 2], [1, 1, 255]]])
    scored = scores_from_confusion(confusion_matrix(torch.ones_like(target), target, num_classes=4))
    assert float(scored["pixel_accuracy"]) == pytest.approx(0.6)
    assert float(scored["miou"]) == pytest.approx(0.2)
    # With the ISBI scores, its pixel error too.
    binary = {"iou": [0.5, 0.9], "support": [21.0, 79.0], "pixel_error": [0.05]}
    assert format_metrics_table(binary, ["membrane", "cell"]).splitlines()[-1] == (
        "baseline (every pixel cell, the most frequent class): pixel accuracy 0.7900, mean IoU 0.3950, "
        "pixel error 0.2100"
    )
