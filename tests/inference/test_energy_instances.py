"""The ``energy`` instance method (Deep Watershed Transform): touching discs from their true energy target and
from perfect probabilities, where ``components`` merges them; one marker per object whatever its depth."""

from __future__ import annotations

import numpy as np
import pytest

from unetkit.data.instance_targets import energy_target
from unetkit.inference.instances import energy_markers, instances_from_mask, list_instance_methods
from unetkit.metrics.instance import score_instances

LEVELS = [1, 2, 3, 4]  # the classes of background, level_1..level_4


def touching_discs(shape: tuple[int, int] = (40, 64), radius: int = 11) -> np.ndarray:
    """Two discs whose centres are 21 px apart: they share a seam (ids 1 and 2), plus a small disc (id 3)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    labels = np.zeros(shape, dtype=np.int32)
    labels[(yy - 20) ** 2 + (xx - 18) ** 2 <= radius**2] = 1
    labels[((yy - 20) ** 2 + (xx - 39) ** 2 <= radius**2) & (labels == 0)] = 2
    labels[(yy - 6) ** 2 + (xx - 58) ** 2 <= 2**2] = 3  # too small to reach level 2
    return labels


def one_hot(target: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[target].transpose(2, 0, 1)


def test_energy_recovers_touching_discs_components_merges_them() -> None:
    true = touching_discs()
    target = energy_target(true)
    assert target.max() == 4  # the discs' cores reach the top level; the seam is level 1 on both sides
    assert "energy" in list_instance_methods()
    _, merged = instances_from_mask(target, LEVELS, "components")
    assert merged == 2  # the two touching discs are one component (the small one is the other)
    for probs in (None, one_hot(target, 5)):
        labels, count = instances_from_mask(target, LEVELS, "energy", probs=probs)
        assert count == 3
        scores = score_instances(true, labels, thresholds=(0.9,))
        assert scores.tp == (3,), scores  # every object matched with IoU > 0.9
        np.testing.assert_array_equal(labels > 0, true > 0)  # the flooding keeps the whole foreground


def test_energy_flooding_follows_the_expected_energy() -> None:
    # A 40 px long bar of level 1 with a level-2 core at each end: the level map alone is flat between
    # the cores (the split lands near the middle); the probabilities put a valley at column 12.
    mask = np.zeros((10, 44), dtype=np.uint8)
    mask[1:9, 2:42] = 1
    mask[3:7, 3:7] = 2
    mask[3:7, 37:41] = 2
    probs = one_hot(mask, 3) * 0.9 + 0.05
    # Column 12: still argmax level 1, but a lower expected energy.
    probs[:, 1:9, 12] = np.array([0.35, 0.6, 0.05])[:, None]
    flat, count = instances_from_mask(mask, [1, 2], "energy")
    assert count == 2 and flat[4, 18] == flat[4, 5] and flat[4, 26] == flat[4, 39]  # split near the middle
    labels, count = instances_from_mask(mask, [1, 2], "energy", probs=probs)
    assert count == 2
    assert (labels[1:9, 3:12] == labels[4, 5]).all() and (labels[1:9, 13:41] == labels[4, 39]).all()


def test_energy_markers_one_per_core_whatever_its_level() -> None:
    levels = np.zeros((12, 24), dtype=np.int32)
    levels[2:10, 1:11] = 1
    levels[4:8, 3:9] = 3  # a deep object
    levels[2:10, 13:23] = 1
    levels[4:8, 15:21] = 2  # a shallower one: its core is level 2
    levels[5, 6] = 4  # a 1-pixel speck of a higher level inside the deep object: not a second marker
    markers = energy_markers(levels)
    assert markers.max() == 2
    assert markers[5, 5] > 0 and markers[5, 17] > 0 and markers[5, 5] != markers[5, 17]
    assert markers[2, 2] == 0 and markers[2, 14] == 0  # level-1 rims are flooded, not marked


def test_energy_errors_and_empty() -> None:
    empty = np.zeros((8, 8), dtype=np.uint8)
    assert instances_from_mask(empty, LEVELS, "energy")[1] == 0
    with pytest.raises(ValueError, match="probs has 3 classes"):
        instances_from_mask(empty + 1, LEVELS, "energy", probs=np.zeros((3, 8, 8), np.float32))
