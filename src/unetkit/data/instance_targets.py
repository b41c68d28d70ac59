"""Training targets derived from instance labels: the semantic mask and the 3-class boundary-aware target.

Torch-free (NumPy/SciPy). The 3-class target follows the U-Net paper's way of separating touching cells
(Ronneberger et al. 2015, Fig. 3: the thin gap between touching objects must be predicted as such); the
paper's own weight map w(x) lives in :mod:`unetkit.data.weight_map`. Classes:

* 0 ``background``;
* 1 ``interior``: object pixels away from other objects;
* 2 ``boundary``: object pixels with a pixel of *another* object within ``radius`` (a disk), i.e. the seam
  where two objects touch or nearly touch. With ``which="all"`` every object pixel within ``radius`` of
  anything else (background included) is boundary, the contour target some DSB2018 entries used.

Seeded watershed from the predicted interiors (``unetkit.inference.instances``, method ``boundary``) turns
a prediction of these classes back into instances.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from unetkit.options import check_positive_int, look_up_option

__all__ = ["BOUNDARY_CLASSES", "BOUNDARY_TARGETS", "boundary_target", "semantic_from_labels"]

BOUNDARY_CLASSES = ("background", "interior", "boundary")
BOUNDARY_TARGETS = ("touching", "all")


def _check(labels: np.ndarray) -> np.ndarray:
    if not isinstance(labels, np.ndarray) or labels.ndim != 2:
        got = labels.shape if isinstance(labels, np.ndarray) else type(labels).__name__
        raise ValueError(f"labels must be an (H, W) label image, got {got}.")
    if labels.dtype.kind not in "uib":
        raise ValueError(f"labels must hold integer object ids, got dtype {labels.dtype}.")
    if labels.dtype.kind == "i" and labels.size and int(labels.min()) < 0:
        raise ValueError(f"labels must be >= 0, got min {int(labels.min())}.")
    return labels


def semantic_from_labels(labels: np.ndarray) -> np.ndarray:
    """(H, W) instance labels -> uint8 (H, W) semantic mask: 1 where label > 0 (object), else 0."""
    return (_check(labels) > 0).astype(np.uint8)


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (yy**2 + xx**2) <= radius**2


def boundary_target(labels: np.ndarray, radius: int = 2, which: str = "touching") -> np.ndarray:
    """(H, W) instance labels -> uint8 (H, W) target: 0 background, 1 interior, 2 boundary.

    Args:
        labels: (H, W) object ids, 0 = background.
        radius: a pixel of object a is boundary when a pixel of another object lies within this Euclidean
            distance (a disk footprint; 1 = the 4 neighbours). From 2 on, the interiors of two objects are
            never 8-connected, so 8-connected seeds (the ``boundary`` method's default) cannot fuse them.
        which: "touching" (only seams between objects) or "all" (every object edge, background included).
    """
    labels = _check(labels).astype(np.int64, copy=False)
    radius = check_positive_int(radius, "radius")
    which = look_up_option(which, BOUNDARY_TARGETS, "boundary target")
    foreground = labels > 0
    footprint = _disk(radius)
    # For an object pixel with label l, the largest label in its disk exceeds l only when another object
    # (label > l > 0) is near; the smallest differs from l when a smaller label is near. For "touching" the
    # background is lifted above every label so that it never counts as "smaller". Two rank filters replace a
    # loop over objects: cost O(pixels * disk), whatever the number of objects.
    near_larger = ndi.maximum_filter(labels, footprint=footprint, mode="nearest") != labels
    low = labels if which == "all" else np.where(foreground, labels, np.iinfo(np.int64).max)
    near_smaller = ndi.minimum_filter(low, footprint=footprint, mode="nearest") != labels
    out = foreground.astype(np.uint8)
    out[foreground & (near_larger | near_smaller)] = 2
    return out
