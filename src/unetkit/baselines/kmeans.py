"""K-means colour clustering, the lectures' traditional (non-learned) segmentation baseline.

Each pixel is a feature vector (its colour in [0, 1], optionally its (y, x) position scaled by
``position_weight``); k-means groups them into ``k`` clusters. Clusters carry no class meaning, so
:func:`map_clusters_to_classes` assigns each cluster the ground-truth class it overlaps most (majority vote),
which gives the baseline its best-case score.

Clustering uses ``scipy.cluster.vq.kmeans2`` with k-means++ seeding (scikit-learn is not a dependency).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.cluster.vq import kmeans2, vq

from unetkit.constants import IGNORE_INDEX

DEFAULT_SAMPLE_SIZE = 200_000


def _features(image: np.ndarray, use_position: bool, position_weight: float) -> np.ndarray:
    """(H, W, C) uint8 -> float64 (H * W, C [+ 2]) features in [0, 1] (positions scaled by the weight)."""
    h, w, c = image.shape
    feats = [image.reshape(-1, c).astype(np.float64) / 255.0]
    if use_position:
        yy, xx = np.mgrid[0:h, 0:w]
        pos = np.stack([yy.ravel() / max(h - 1, 1), xx.ravel() / max(w - 1, 1)], axis=1) * position_weight
        feats.append(pos)
    return np.concatenate(feats, axis=1) if len(feats) > 1 else feats[0]


def kmeans_segment(
    image: np.ndarray,
    k: int,
    use_position: bool = False,
    position_weight: float = 0.5,
    seed: int = 0,
    max_iter: int = 30,
    sample_size: int | None = DEFAULT_SAMPLE_SIZE,
) -> np.ndarray:
    """Cluster the pixels of one image into ``k`` groups.

    Args:
        image: uint8 (H, W), (H, W, 1) or (H, W, 3).
        k: number of clusters (>= 1).
        use_position: append normalised (y, x) to the colour features, so clusters become spatially compact.
        position_weight: weight of the position features relative to colour (both in [0, 1]).
        seed: random seed of the k-means++ initialisation and pixel subsampling.
        max_iter: Lloyd iterations.
        sample_size: fit the centroids on at most this many randomly chosen pixels, then assign every pixel
            to its nearest centroid (keeps large images fast); None fits on all pixels.

    Returns:
        int32 (H, W) cluster labels 0..k-1, numbered by increasing mean brightness of the centroid (so the
        same seed gives comparable cluster ids across images).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(f"image must be a uint8 array, got {getattr(image, 'dtype', type(image).__name__)}.")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}.")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}.")
    if k > image.shape[0] * image.shape[1]:
        raise ValueError(f"k={k} exceeds the number of pixels ({image.shape[0] * image.shape[1]}).")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}.")
    h, w, c = image.shape
    feats = _features(image, use_position, position_weight)
    rng = np.random.default_rng(seed)
    fit = feats
    if sample_size is not None and feats.shape[0] > sample_size:
        fit = feats[rng.choice(feats.shape[0], size=sample_size, replace=False)]
    with warnings.catch_warnings():
        # An empty cluster (k larger than the number of distinct colours) is not an error here; k-means++
        # then finds every pixel on a centre already and divides zero distances by their zero sum (NumPy's
        # RuntimeWarning: it still picks a pixel), printed by `unetkit kmeans masks/ --k 3` on 0/255 images.
        warnings.simplefilter("ignore", UserWarning)
        warnings.filterwarnings("ignore", "invalid value encountered in divide", RuntimeWarning)
        centroids, _ = kmeans2(fit, int(k), iter=int(max_iter), minit="++", rng=rng)
    labels, _ = vq(feats, centroids, check_finite=False)
    # Renumber clusters by brightness of their colour part: deterministic, comparable across images.
    order = np.argsort(centroids[:, :c].mean(axis=1), kind="stable")
    rank = np.empty(k, dtype=np.int32)
    rank[order] = np.arange(k, dtype=np.int32)
    return rank[labels].reshape(h, w)


def cluster_class_counts(
    cluster_labels: np.ndarray, mask: np.ndarray, k: int, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """Contingency table int64 (k, num_classes): pixels of cluster i with true class j (ignored pixels and
    out-of-range classes skipped)."""
    if cluster_labels.shape != mask.shape:
        raise ValueError(f"cluster labels {cluster_labels.shape} and mask {mask.shape} differ in shape.")
    valid = (mask != ignore_index) & (mask >= 0) & (mask < num_classes)
    idx = cluster_labels[valid].astype(np.int64) * num_classes + mask[valid].astype(np.int64)
    return np.bincount(idx, minlength=k * num_classes).reshape(k, num_classes)


def map_clusters_to_classes(
    cluster_labels_list: Sequence[np.ndarray],
    masks_list: Sequence[np.ndarray],
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    k: int | None = None,
) -> np.ndarray:
    """Majority vote: cluster id -> the class it overlaps most over all images.

    Args:
        cluster_labels_list: per image (H, W) cluster labels from :func:`kmeans_segment`.
        masks_list: per image (H, W) ground-truth classes (``ignore_index`` pixels skipped).
        num_classes: number of classes.
        ignore_index: label value to skip.
        k: number of clusters (default: max label + 1).

    Returns:
        int64 (k,) mapping; a cluster with no labelled pixel maps to class 0. Apply with ``mapping[labels]``.
    """
    if len(cluster_labels_list) != len(masks_list):
        raise ValueError(
            f"got {len(cluster_labels_list)} cluster maps but {len(masks_list)} masks; pass one mask per "
            "cluster map, in the same order"
        )
    if not cluster_labels_list:
        raise ValueError("got no cluster maps; pass the cluster maps of at least one labelled image")
    if k is None:
        k = int(max(int(c.max()) for c in cluster_labels_list)) + 1
    counts = np.zeros((k, num_classes), dtype=np.int64)
    for clusters, mask in zip(cluster_labels_list, masks_list):
        counts += cluster_class_counts(clusters, mask, k, num_classes, ignore_index)
    return mapping_from_counts(counts)


def mapping_from_counts(counts: np.ndarray) -> np.ndarray:
    """Cluster -> class by majority of a (k, num_classes) contingency table (ties: lowest class)."""
    return np.argmax(counts, axis=1).astype(np.int64)
