"""Training targets derived from instance labels: the semantic mask, the 3-class boundary-aware target and
the Deep Watershed Transform's quantised energy levels.

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

The energy target (:func:`energy_target`) follows the Deep Watershed Transform (M. Bai and R. Urtasun, "Deep
Watershed Transform for Instance Segmentation", CVPR 2017): each object pixel's distance to its *own*
object's outline, quantised into K levels (class 0 background, classes 1..K deeper and deeper inside). The
distance is per object, so two touching objects meet at level 1 and keep separate basins; the method
``energy`` floods them back into instances. Both targets are plain class maps, trained with the usual
CE(+Dice) losses: the whole training, export and tiling stack works unchanged.

:func:`instance_target` picks a target by name (``semantic``, ``boundary``, ``energy``: what the folder
dataset's ``instance_target`` option and ``unetkit fit DIR --target`` take); :func:`instance_hint` is what a
model trained on it records (``ModelConfig.extra``) so that later code picks the matching instance method.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from unetkit.options import check_positive_int, look_up_option

__all__ = [
    "BOUNDARY_CLASSES",
    "BOUNDARY_TARGETS",
    "ENERGY_LEVELS",
    "INSTANCE_TARGETS",
    "boundary_target",
    "check_instance_target",
    "energy_classes",
    "energy_target",
    "instance_hint",
    "instance_target",
    "instance_target_classes",
    "object_distance",
    "semantic_from_labels",
]

BOUNDARY_CLASSES = ("background", "interior", "boundary")
BOUNDARY_TARGETS = ("touching", "all")
# What a model trained on instance labels predicts; each target has one instance method that inverts it.
INSTANCE_TARGETS = ("semantic", "boundary", "energy")
_METHOD_OF_TARGET = {"semantic": "components", "boundary": "boundary", "energy": "energy"}
# The parameters each target takes (the keys of instance_target's params), defaults in check_instance_target.
_TARGET_PARAMS: dict[str, tuple[str, ...]] = {"semantic": (), "boundary": ("radius",), "energy": ("levels",)}
# Lower edges (px of distance to the object's own outline; 1 = the outline pixels) of energy levels 1..K.
# Chosen for DSB2018-like nuclei (median extent ~23 px, so a median nucleus is ~11 px deep): level 1 (1-2 px)
# is the rim; two touching nuclei meet there, so their deeper levels stay >= 4 px apart and never fuse;
# level 2 (3-4 px) and level 3 (5-7 px) are reached by small nuclei (~10 px across); level 4 (>= 8 px) is
# the core of a median nucleus. Narrow bins near the outline, where the seam between objects is decided,
# wide ones inside, as the Deep Watershed Transform's levels. Objects too small to reach a level still get
# one marker at their deepest level (the ``energy`` method), so the bins never lose an object.
ENERGY_LEVELS = (1, 3, 5, 8)


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


def object_distance(labels: np.ndarray) -> np.ndarray:
    """(H, W) instance labels -> float32 (H, W): each object pixel's Euclidean distance (px) to the nearest
    pixel outside its own object (background, another object, or beyond the image edge); 0 on background.

    The outline pixels of an object have distance 1 (or sqrt 2); a pixel of object a never measures to its
    neighbour object b as if b were inside, so touching objects keep separate distance basins. The image
    edge counts as outside: an object the edge cuts is only as deep as what the network can see of it.
    """
    labels = _check(labels)
    out = np.zeros(labels.shape, dtype=np.float32)
    height, width = labels.shape
    # One Euclidean distance transform per object, on its bounding box grown by one pixel: exact, and
    # O(sum of box areas); scipy has no transform "to the nearest pixel with another label".
    for index, box in enumerate(ndi.find_objects(labels.astype(np.int64, copy=False)), start=1):
        if box is None:
            continue
        grown = (
            slice(max(box[0].start - 1, 0), min(box[0].stop + 1, height)),
            slice(max(box[1].start - 1, 0), min(box[1].stop + 1, width)),
        )
        inside = labels[grown] == index
        distance = ndi.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1]
        out[grown][inside] = distance[inside]
    return out


def _check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in levels)
    except (TypeError, ValueError):
        raise ValueError(
            f"energy levels must be a list of distances in px, e.g. [1, 3, 5, 8]; got {levels!r}"
        ) from None
    if not values or values[0] != 1 or any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError(
            f"energy levels must increase and start at 1 (the outline, so that every object pixel gets a "
            f"level >= 1), e.g. [1, 3, 5, 8]; got {list(levels)}"
        )
    if len(values) > 250:
        raise ValueError(f"energy levels: {len(values)} levels are too many classes; use at most 250")
    return tuple(int(v) if v == int(v) else v for v in values)


def energy_classes(levels: Sequence[float] = ENERGY_LEVELS) -> tuple[str, ...]:
    """Class names of the energy target: ``background, level_1, ..., level_K``."""
    return ("background", *(f"level_{k}" for k in range(1, len(_check_levels(levels)) + 1)))


def energy_target(labels: np.ndarray, levels: Sequence[float] = ENERGY_LEVELS) -> np.ndarray:
    """(H, W) instance labels -> uint8 (H, W) energy levels: 0 background, k where the pixel's distance to its
    own object's outline (:func:`object_distance`) is at least ``levels[k - 1]`` (and below ``levels[k]``).

    Args:
        labels: (H, W) object ids, 0 = background.
        levels: increasing lower edges (px) of levels 1..K, starting at 1; default :data:`ENERGY_LEVELS`
            (1-2, 3-4, 5-7, >= 8 px).
    """
    edges = np.asarray(_check_levels(levels), dtype=np.float32)
    distance = object_distance(labels)
    # searchsorted counts the edges <= distance: 0 on background (distance 0 < 1), k in level k.
    return np.searchsorted(edges, distance, side="right").astype(np.uint8)


def check_instance_target(target: str, params: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(target name, its parameters with defaults filled in and checked); unknown names list the options.

    ``params``: ``radius`` for ``boundary``, ``levels`` for ``energy``, none for ``semantic``.
    """
    target = look_up_option(target, INSTANCE_TARGETS, "instance_target")
    given = dict(params or {})
    extra = sorted(set(given) - set(_TARGET_PARAMS[target]))
    if extra:
        takes = ", ".join(_TARGET_PARAMS[target]) or "none"
        raise ValueError(f"instance_target {target!r} takes no parameter {extra[0]!r} (it takes: {takes})")
    if target == "boundary":
        return target, {"radius": check_positive_int(given.get("radius", 2), "boundary radius")}
    if target == "energy":
        return target, {"levels": list(_check_levels(given.get("levels", ENERGY_LEVELS)))}
    return target, {}


def instance_target_classes(target: str, params: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Class names of ``target``: background/foreground, background/interior/boundary, or the levels."""
    target, checked = check_instance_target(target, params)
    if target == "boundary":
        return BOUNDARY_CLASSES
    if target == "energy":
        return energy_classes(checked["levels"])
    return ("background", "foreground")


def instance_target(
    labels: np.ndarray, target: str = "semantic", params: Mapping[str, Any] | None = None
) -> np.ndarray:
    """(H, W) instance labels -> uint8 (H, W) class map of ``target`` (semantic, boundary or energy)."""
    target, checked = check_instance_target(target, params)
    if target == "boundary":
        return boundary_target(labels, radius=checked["radius"])
    if target == "energy":
        return energy_target(labels, levels=checked["levels"])
    return semantic_from_labels(labels)


def instance_hint(target: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a model trained on ``target`` records in ``ModelConfig.extra`` so that later code can split its
    predictions into instances: ``instance_method`` (a registered method of
    :mod:`unetkit.inference.instances`), ``instance_classes`` (the foreground classes to pass it),
    ``instance_target`` and ``instance_params``. JSON types only.
    """
    target, checked = check_instance_target(target, params)
    classes = list(range(1, len(instance_target_classes(target, checked))))
    return {
        "instance_method": _METHOD_OF_TARGET[target],
        "instance_classes": classes,
        "instance_target": target,
        "instance_params": checked,
    }
