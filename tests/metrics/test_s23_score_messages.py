"""score_predictions' refusals of the two slips a notebook user makes name the fix (trial 22): instance labels
(0..N object ids) given as the truth of a two-class mask, and predict's probabilities given as the mask."""

from __future__ import annotations

import numpy as np
import pytest

from unetkit.metrics import score_instances, score_predictions


def test_instance_labels_as_truth_name_the_binary_mask_and_score_instances() -> None:
    labels = np.zeros((6, 6), np.uint16)
    labels[1:3, 1:3], labels[3:5, 3:5], labels[0, 5] = 1, 2, 3
    mask = (labels > 0).astype(np.uint8)
    with pytest.raises(ValueError, match=r"values \[2, 3\] outside .*pass labels > 0 as the truth") as info:
        score_predictions([(mask, labels)], 2)
    message = str(info.value)
    assert "\n" not in message and "score_instances(labels, predicted_labels)" in message
    # The fixes it names both work.
    assert score_predictions([(mask, labels > 0)], 2)["miou"] == 1.0
    assert score_instances(labels, labels).map == 1.0


def test_other_out_of_range_truth_names_num_classes_not_instances() -> None:
    with pytest.raises(ValueError, match=r"values \[5\] outside \[0, 3\).*pass num_classes=") as info:
        score_predictions([(np.zeros((2, 2), np.uint8), np.array([[0, 5], [1, 2]]))], 3)
    assert "instance" not in str(info.value)


def test_probabilities_as_the_mask_name_predicts_mask() -> None:
    probs = np.full((2, 4, 5), 0.5, np.float32)
    fix = r"got shape \(2, 4, 5\); pass the mask, predictor\.predict\(image\)\[0\]"
    with pytest.raises(ValueError, match=fix):
        score_predictions([(probs, np.zeros((4, 5), np.uint8))], 2)
