"""prediction_overlay draws the default class colours when given none (trial 22: a notebook user with a run
whose config.class_colors is None had to find unetkit.palette.class_palette in the source)."""

from __future__ import annotations

import numpy as np
import pytest

from unetkit.constants import IGNORE_INDEX
from unetkit.palette import IGNORE_COLOR, class_palette
from unetkit.viz.overlay import default_palette, prediction_overlay


@pytest.mark.parametrize("top", [0, 1, 4])
def test_no_palette_is_the_fixed_palette_of_the_mask_classes(top: int) -> None:
    rng = np.random.default_rng(top)
    image = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    mask = rng.integers(0, top + 1, (9, 11)).astype(np.uint8)
    mask[0, 0] = top
    labels = np.zeros((9, 11), np.int32)
    labels[2:6, 3:8] = 1
    given = class_palette(max(top + 1, 2))
    np.testing.assert_array_equal(
        prediction_overlay(image, mask, labels=labels), prediction_overlay(image, mask, given, labels=labels)
    )


def test_the_default_palette_skips_the_ignore_value() -> None:
    mask = np.array([[0, 1, 2], [IGNORE_INDEX, 0, 0]], np.uint8)
    np.testing.assert_array_equal(default_palette(mask), class_palette(3))
    rgb = prediction_overlay(np.zeros((2, 3), np.uint8), mask, alpha=1.0)
    assert tuple(rgb[1, 0]) == IGNORE_COLOR
    assert tuple(rgb[0, 2]) == tuple(class_palette(3)[2])


def test_a_mask_beyond_the_palette_is_still_refused_with_its_values() -> None:
    with pytest.raises(ValueError, match=r"mask values 0\.\.300 exceed the palette of 256 classes"):
        prediction_overlay(np.zeros((1, 2), np.uint8), np.array([[0, 300]], np.int32))
