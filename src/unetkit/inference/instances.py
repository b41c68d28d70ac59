"""Instances from a semantic mask: connected components, or a watershed that splits touching objects."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from unetkit.options import look_up_option

INSTANCE_METHODS = ("components", "watershed")


def instances_from_mask(
    mask: np.ndarray,
    foreground_classes: int | Sequence[int],
    method: str = "components",
    min_size: int = 0,
    probs: np.ndarray | None = None,
    min_distance: int = 5,
    connectivity: int = 2,
) -> tuple[np.ndarray, int]:
    """Label object instances among the pixels of ``foreground_classes``.

    Args:
        mask: (H, W) class indices.
        foreground_classes: class index or indices that form objects.
        method: "components" (connected components) or "watershed" (split touching objects: watershed of the
            negated distance transform, one marker per distance-transform peak).
        min_size: instances with fewer pixels are removed (labels are renumbered 1..count).
        probs: optional (K, H, W) probabilities; for "watershed" the distance transform is multiplied by the
            foreground probability, so a seam where the network was unsure becomes a valley to split along.
        min_distance: minimum distance in pixels between two markers (about the smallest object radius).
        connectivity: 1 (4-neighbours) or 2 (8-neighbours) for components and watershed.

    Returns:
        (labels int32 (H, W) with 0 = background and 1..count instances, count).
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        got = mask.shape if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ValueError(f"mask must be an (H, W) array, got {got}.")
    method = look_up_option(method, INSTANCE_METHODS, "instance method")
    if isinstance(foreground_classes, (int, np.integer)):
        classes = [int(foreground_classes)]
    else:
        classes = [int(c) for c in foreground_classes]
    if not classes:
        raise ValueError("foreground_classes is empty; name at least one class index.")
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity must be 1 or 2, got {connectivity}.")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}.")
    foreground = np.isin(mask, classes)
    structure = ndi.generate_binary_structure(2, connectivity)
    if method == "components":
        labels, count = ndi.label(foreground, structure=structure)
    else:
        labels, count = _watershed(foreground, probs, classes, min_distance, structure)
    labels = labels.astype(np.int32, copy=False)
    if min_size > 0 and count > 0:
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        keep = sizes >= min_size
        keep[0] = False
        # Renumber kept labels 1..n in their old order; dropped ones become background.
        lut = np.zeros(count + 1, dtype=np.int32)
        lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
        labels = lut[labels]
        count = int(keep.sum())
    return labels, int(count)


def _watershed(
    foreground: np.ndarray,
    probs: np.ndarray | None,
    classes: list[int],
    min_distance: int,
    structure: np.ndarray,
) -> tuple[np.ndarray, int]:
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    if not foreground.any():
        return np.zeros(foreground.shape, dtype=np.int32), 0
    distance = ndi.distance_transform_edt(foreground).astype(np.float32)
    if probs is not None:
        if probs.ndim != 3 or probs.shape[1:] != foreground.shape:
            raise ValueError(f"probs must be (K, H, W) with (H, W) = {foreground.shape}, got {probs.shape}.")
        if probs.shape[0] == 1:
            fg_prob = probs[0] if 1 in classes else 1.0 - probs[0]
        else:
            fg_prob = probs[classes].sum(axis=0)
        distance *= np.clip(fg_prob, 0.0, 1.0)
    components, n_components = ndi.label(foreground, structure=structure)
    peaks = peak_local_max(
        distance, min_distance=max(1, int(min_distance)), labels=components, exclude_border=False
    )
    markers_mask = np.zeros(foreground.shape, dtype=bool)
    markers_mask[tuple(peaks.T)] = True
    # Objects too small to hold a peak at ``min_distance`` still get one marker (their deepest pixel);
    # without it the watershed would leave them unlabelled.
    has_marker = np.zeros(n_components + 1, dtype=bool)
    has_marker[components[markers_mask]] = True
    missing = np.flatnonzero(~has_marker[1:]) + 1
    if missing.size:
        for position in ndi.maximum_position(distance, components, index=missing):
            markers_mask[tuple(int(p) for p in position)] = True
    # Peaks on one plateau (equal distance values side by side) must be one marker, not several.
    markers, _ = ndi.label(markers_mask, structure=np.ones((3, 3), dtype=bool))
    labels = watershed(-distance, markers, mask=foreground, connectivity=structure)
    # Renumber 1..n: markers of a component may have been merged away.
    present = np.unique(labels)
    present = present[present > 0]
    lut = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lut[present] = np.arange(1, present.size + 1, dtype=np.int32)
    return lut[labels], int(present.size)
