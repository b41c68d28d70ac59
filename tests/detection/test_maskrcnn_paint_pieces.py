"""Mask R-CNN label images hold one 8-connected piece per object (trial finding 5): a mask that higher
scores cut in two, or that has stray pixels, keeps its largest piece, and min_area applies to that piece."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torchvision")

from scipy import ndimage as ndi
from test_maskrcnn_predictor import _detections, _square_detection

from unetkit.detection.predictor import paint_instances


def _pieces(labels: np.ndarray, label: int) -> list[int]:
    pieces, _ = ndi.label(labels == label, structure=np.ones((3, 3), bool))
    return sorted(np.bincount(pieces.ravel())[1:].tolist(), reverse=True)


def test_a_mask_cut_by_a_higher_score_keeps_its_largest_piece() -> None:
    bar = _square_detection(8, 0, 11, 39, 0.9)  # a vertical bar across the wider, lower-scoring box
    wide = _square_detection(0, 10, 39, 19, 0.8)  # left of the bar: about 8 px wide, right: about 27
    labels = paint_instances(_detections(bar, wide), (40, 40), min_area=4)
    assert np.unique(labels).tolist() == [0, 1, 2]
    assert len(_pieces(labels, 2)) == 1  # one piece, not left + right
    assert labels[15, 30] == 2 and labels[15, 3] == 0  # the larger right side kept, the left dropped
    # min_area applies to the piece kept: the two pieces together pass, the largest alone does not.
    right = _pieces(labels, 2)[0]
    assert paint_instances(_detections(bar, wide), (40, 40), min_area=right + 1).max() == 1
    # The dropped piece stays free for a lower-scoring detection.
    left = _square_detection(0, 10, 7, 19, 0.7)
    labels = paint_instances(_detections(bar, wide, left), (40, 40), min_area=4)
    assert labels[15, 3] == 3 and all(len(_pieces(labels, k)) == 1 for k in (1, 2, 3))


def test_stray_pixels_of_a_mask_are_dropped() -> None:
    box, score, mask = _square_detection(0, 0, 27, 27, 0.9)
    mask = np.zeros((28, 28), np.float32)
    mask[2:20, 2:20] = 1.0
    mask[25, 25] = 1.0  # a speck, apart from the object
    labels = paint_instances(_detections((box, score, mask)), (30, 30), min_area=1)
    assert labels.max() == 1 and len(_pieces(labels, 1)) == 1
    assert labels[26, 26] == 0 and labels[10, 10] == 1
