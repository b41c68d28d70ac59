"""The INT8/bf16 accuracy gate judges binary models by pixel error (as their metrics report them) and the
others by mean IoU; binary scores carry pixel_error whether or not they are ISBI data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unetkit.data.io import MaskEncoding
from unetkit.export.quantize import ValidationSet
from unetkit.metrics import score_predictions


def test_binary_models_are_gated_on_pixel_error() -> None:
    pairs = [(Path("a.png"), Path("a_mask.png"))]
    binary = ValidationSet(pairs, MaskEncoding("binary", num_classes=2), 2, isbi=False)
    assert binary.default_metric == "pixel_error"  # a folder's ISBI run: not flagged isbi
    assert ValidationSet(pairs, MaskEncoding("index", num_classes=3), 3).default_metric == "miou"


def test_binary_scores_report_pixel_error_and_rand_error_only_for_isbi() -> None:
    pred, truth = np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]])
    scores = score_predictions([(pred, truth)], 2)
    assert scores["pixel_error"] == 0.25 and "rand_error" not in scores
    assert "pixel_error" not in score_predictions([(pred, truth)], 3)
    assert "rand_error" in score_predictions([(pred, truth)], 2, isbi=True)
