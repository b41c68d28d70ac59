"""Instances: connected components vs watershed on synthetic discs with known counts."""

from __future__ import annotations

import numpy as np
import pytest

from unetkit.inference.instances import instances_from_mask


def discs(shape: tuple[int, int], centres: list[tuple[int, int]], radius: float, cls: int = 1) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    mask = np.zeros(shape, dtype=np.uint8)
    for cy, cx in centres:
        mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = cls
    return mask


def test_touching_discs_components_one_watershed_two() -> None:
    mask = discs((40, 60), [(20, 20), (20, 36)], 10)  # centres 16 apart, radius 10: overlapping
    _, n_cc = instances_from_mask(mask, 1, "components")
    labels, n_ws = instances_from_mask(mask, 1, "watershed", min_distance=5)
    assert (n_cc, n_ws) == (1, 2)
    assert labels.dtype == np.int32
    assert labels[20, 15] != labels[20, 41] and labels[20, 15] > 0 and labels[20, 41] > 0
    np.testing.assert_array_equal(labels > 0, mask == 1)  # watershed keeps the whole foreground


@pytest.mark.parametrize("method", ["components", "watershed"])
def test_separated_discs_give_their_count(method: str) -> None:
    centres = [(10, 10), (10, 40), (35, 12), (35, 45), (22, 70)]
    mask = discs((50, 90), centres, 6, cls=2)
    mask[0:3, 85:90] = 1  # another class: not foreground here
    labels, count = instances_from_mask(mask, [2], method)
    assert count == 5
    assert sorted(np.unique(labels).tolist()) == [0, 1, 2, 3, 4, 5]


def test_min_size_drops_small_objects_and_renumbers() -> None:
    mask = discs((30, 30), [(8, 8), (20, 20)], 5)
    mask[0, 29] = 1  # a 1-pixel speck
    labels, count = instances_from_mask(mask, 1, "components", min_size=5)
    assert count == 2 and labels.max() == 2 and labels[0, 29] == 0


def test_probability_seam_splits_watershed() -> None:
    mask = discs((40, 60), [(20, 20), (20, 36)], 10)
    probs = np.zeros((2, 40, 60), dtype=np.float32)
    probs[1] = mask
    probs[1, :, 27:29] *= 0.05  # the network was unsure along the seam between the objects
    probs[0] = 1 - probs[1]
    _, count = instances_from_mask(mask, 1, "watershed", probs=probs, min_distance=3)
    assert count == 2


def test_empty_and_errors() -> None:
    empty = np.zeros((8, 8), dtype=np.uint8)
    assert instances_from_mask(empty, 1, "watershed")[1] == 0
    with pytest.raises(ValueError, match="Unknown instance method 'watershd'"):
        instances_from_mask(empty, 1, "watershd")
    with pytest.raises(ValueError, match=r"\(H, W\) array"):
        instances_from_mask(np.zeros((1, 8, 8)), 1)
