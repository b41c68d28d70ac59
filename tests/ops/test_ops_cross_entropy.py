"""Per-pixel one-hot cross-entropy (unetkit.ops.cross_entropy) against PyTorch and unetkit.losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unetkit.losses import create_loss
from unetkit.ops import cross_entropy, cross_entropy_steps, one_hot, softmax
from unetkit.ops.lecture_examples import (
    CROSS_ENTROPY_LABELS,
    CROSS_ENTROPY_LOGITS,
    CROSS_ENTROPY_NUM_CLASSES,
)


def _torch(logits: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(np.asarray(logits), dtype=torch.float64)[None], torch.tensor(np.asarray(labels))[None]


def test_lecture_example_equals_torch_and_unetkit_loss() -> None:
    logits, labels = _torch(CROSS_ENTROPY_LOGITS, CROSS_ENTROPY_LABELS)
    expected = F.cross_entropy(logits, labels, ignore_index=255).item()
    ours = cross_entropy(CROSS_ENTROPY_LOGITS, CROSS_ENTROPY_LABELS)
    assert ours == pytest.approx(expected, rel=1e-12)
    assert ours == pytest.approx(0.5810967595556826, rel=1e-12)
    loss = create_loss("ce", num_classes=CROSS_ENTROPY_NUM_CLASSES)
    assert loss(logits.float(), labels).item() == pytest.approx(ours, rel=1e-6)


def test_steps_one_hot_softmax_and_ignored_pixel() -> None:
    steps = cross_entropy_steps(CROSS_ENTROPY_LOGITS, CROSS_ENTROPY_LABELS)
    np.testing.assert_array_equal(
        steps.one_hot.argmax(axis=0)[steps.valid], CROSS_ENTROPY_LABELS[steps.valid]
    )
    np.testing.assert_array_equal(steps.one_hot[:, 1, 1], [0, 0, 0])  # the 255 pixel: no class
    np.testing.assert_array_equal(steps.valid, [[True, True, True], [True, False, True]])
    np.testing.assert_allclose(steps.probs.sum(axis=0), 1.0, rtol=0, atol=1e-15)
    # Pixel (0, 0): logits (2, 1, 0), label 0 -> p = e^2 / (e^2 + e + 1).
    p = np.e**2 / (np.e**2 + np.e + 1)
    assert steps.true_prob[0, 0] == pytest.approx(p, rel=1e-15)
    assert steps.pixel_loss[0, 0] == pytest.approx(-np.log(p), rel=1e-15)
    assert np.isnan(steps.pixel_loss[1, 1])
    per_pixel = F.cross_entropy(
        *_torch(CROSS_ENTROPY_LOGITS, CROSS_ENTROPY_LABELS), ignore_index=255, reduction="none"
    )
    np.testing.assert_allclose(steps.pixel_loss[steps.valid], per_pixel[0].numpy()[steps.valid], rtol=1e-12)
    assert steps.loss == pytest.approx(steps.pixel_loss[steps.valid].sum() / 5, rel=1e-15)


def test_random_inputs_match_torch() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        logits = rng.normal(scale=4.0, size=(4, 5, 7))
        labels = rng.integers(0, 4, size=(5, 7))
        labels[rng.random((5, 7)) < 0.2] = 255
        labels[0, 0] = 1
        expected = F.cross_entropy(*_torch(logits, labels), ignore_index=255).item()
        assert cross_entropy(logits, labels) == pytest.approx(expected, rel=1e-12)


def test_softmax_is_stable_for_large_logits() -> None:
    np.testing.assert_allclose(softmax([[1000.0], [1000.0]])[:, 0], [0.5, 0.5])


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"labels hold \[3\], outside the classes 0..2"):
        one_hot([[0, 3]], 3)
    with pytest.raises(TypeError, match="labels must be integers"):
        one_hot([[0.0, 1.0]], 3)
    with pytest.raises(ValueError, match=r"logits must have shape \(K, H, W\)"):
        cross_entropy(np.zeros((3, 2)), [[0, 1]])
    with pytest.raises(ValueError, match="labels have shape"):
        cross_entropy(np.zeros((3, 2, 2)), [[0, 1]])
    with pytest.raises(ValueError, match="every pixel is ignore_index 255"):
        cross_entropy(np.zeros((3, 1, 2)), [[255, 255]])
