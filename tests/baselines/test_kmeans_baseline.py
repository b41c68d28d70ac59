"""K-means baseline: exact recovery of a two-colour image, majority-vote mapping."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from unetkit.baselines.kmeans import kmeans_segment, map_clusters_to_classes


def two_colour(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.zeros((24, 32), dtype=np.int64)
    truth[5:18, 8:27] = 1
    image = np.where(truth[..., None] == 1, [200, 40, 30], [20, 90, 160]).astype(np.uint8)
    noise = rng.integers(-10, 11, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), truth


def test_two_colours_recovered_exactly_after_mapping() -> None:
    image, truth = two_colour()
    labels = kmeans_segment(image, 2, seed=0)
    assert labels.shape == truth.shape and set(np.unique(labels)) == {0, 1}
    mapping = map_clusters_to_classes([labels], [truth], num_classes=2)
    np.testing.assert_array_equal(mapping[labels], truth)


def test_clusters_ordered_by_brightness_and_seeded() -> None:
    image = np.zeros((10, 10), dtype=np.uint8)
    image[:, 5:] = 250
    labels = kmeans_segment(image, 2, seed=3, use_position=True, position_weight=0.1)
    assert (labels[:, :5] == 0).all() and (labels[:, 5:] == 1).all()  # dark cluster is 0
    np.testing.assert_array_equal(kmeans_segment(image, 2, seed=3), kmeans_segment(image, 2, seed=3))


def test_more_clusters_than_colours_warns_nothing() -> None:
    """k=3 on a two-colour image (kmeans on 0/255 masks) printed NumPy's 'invalid value encountered in
    divide' from scipy's k-means++ twice per image; the clusters are still the two colours."""
    image = np.zeros((10, 10), dtype=np.uint8)
    image[:, 5:] = 255
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = kmeans_segment(image, 3, seed=0)
    assert len(np.unique(labels[:, :5])) == 1 and len(np.unique(labels[:, 5:])) == 1
    assert labels[0, 0] != labels[0, 9]


def test_majority_vote_hand_computed() -> None:
    clusters = [np.array([[0, 0, 1, 1, 2]])]
    masks = [np.array([[1, 1, 0, 255, 2]])]  # cluster 0 -> 1, cluster 1 -> 0 (255 ignored), 2 -> 2
    np.testing.assert_array_equal(map_clusters_to_classes(clusters, masks, num_classes=3, k=4), [1, 0, 2, 0])


def test_errors() -> None:
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        kmeans_segment(np.zeros((4, 4), np.uint8), 0)
    with pytest.raises(TypeError, match="uint8"):
        kmeans_segment(np.zeros((4, 4)), 2)
    with pytest.raises(ValueError, match="got 1 cluster maps but 2 masks; pass one mask per cluster map"):
        map_clusters_to_classes([np.zeros((2, 2), int)], [np.zeros((2, 2), int)] * 2, 2)
    with pytest.raises(ValueError, match="got no cluster maps; pass the cluster maps of at least one"):
        map_clusters_to_classes([], [], 2)
