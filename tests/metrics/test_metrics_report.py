"""Metrics table and flat dict."""

from __future__ import annotations

import math

import pytest
import torch

from unetkit.metrics import confusion_matrix, format_metrics_table, scores_from_confusion, scores_to_flat_dict

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
