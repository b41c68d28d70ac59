"""Instances from a predicted class mask: connected components, a watershed that splits touching objects,
a seeded watershed from the interiors of a 3-class (background / interior / boundary) model, and the
Deep Watershed Transform's flooding of predicted energy levels.

Methods live in a small registry: :func:`register_instance_method` adds one, :func:`list_instance_methods`
names them, and :func:`instances_from_mask` runs any of them by name (then drops small objects and numbers
the rest 1..n), so ``predict --instances METHOD`` can offer every registered method. A model trained on
instance labels names its method in ``ModelConfig.extra["instance_method"]`` (and the classes to pass it in
``extra["instance_classes"]``; :func:`unetkit.data.instance_targets.instance_hint`).

The shape-aware head is the **energy** of the Deep Watershed Transform (M. Bai and R. Urtasun, "Deep
Watershed Transform for Instance Segmentation", CVPR 2017): the network classifies each pixel into K
quantised levels of the distance to its object's own outline
(:func:`unetkit.data.instance_targets.energy_target`), and a watershed floods the predicted energy from one
marker per object core. It was chosen because it *is* per-pixel classification: the U-Net, the CE(+Dice)
losses, the metrics, export and tiled inference the lectures teach work unchanged, only the target differs.
StarDist (star-convex polygons) would need a regression head for the radial distances, its own loss and a
polygon non-maximum suppression; distance regression a regression head and loss. Levels give what those
give for round nuclei (one basin per object, seams at the low levels) with the classifier already here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

import numpy as np
from scipy import ndimage as ndi

from unetkit.options import look_up_option

__all__ = [
    "DEFAULT_MIN_DISTANCE",
    "INSTANCE_METHODS",
    "InstanceMethod",
    "energy_markers",
    "get_instance_method",
    "instances_from_mask",
    "keep_large_instances",
    "list_instance_methods",
    "register_instance_method",
    "uses_min_distance",
    "watershed_grid",
]

# The methods that split the mask of *any* semantic model; "boundary" needs a background/interior/boundary
# model, "energy" an energy-level model. list_instance_methods() names every registered method (the serve API
# offers those that fit the served model: unetkit.serve.app).
INSTANCE_METHODS = ("components", "watershed")


class InstanceMethod(Protocol):
    """``method(mask, classes, *, probs, min_distance, connectivity) -> labels``.

    ``mask`` (H, W) class indices; ``classes`` the foreground class indices (as the user gave them);
    ``probs`` optional (K, H, W) probabilities; returns (H, W) integer labels, 0 = background, any positive
    ids (:func:`instances_from_mask` renumbers them 1..n).
    """

    def __call__(
        self,
        mask: np.ndarray,
        classes: list[int],
        *,
        probs: np.ndarray | None,
        min_distance: int,
        connectivity: int,
    ) -> np.ndarray: ...


_METHODS: dict[str, InstanceMethod] = {}
# The registered methods whose labels depend on ``min_distance``: a predictor names min_distance among its
# parameters (table headers, metrics.json) only for these, since a value a method ignores misleads.
_USES_MIN_DISTANCE: set[str] = set()


def register_instance_method(
    name: str, *, uses_min_distance: bool = True
) -> Callable[[InstanceMethod], InstanceMethod]:
    """Decorator: register an :class:`InstanceMethod` under ``name`` (case-insensitive);
    ``uses_min_distance=False`` for a method that ignores its ``min_distance`` argument."""

    def decorate(fn: InstanceMethod) -> InstanceMethod:
        key = name.lower()
        if key in ("", "none"):
            raise ValueError(f"{name!r} cannot name an instance method (it means 'no instances').")
        if key in _METHODS and _METHODS[key] is not fn:
            raise ValueError(f"An instance method is already registered under the name {key!r}.")
        _METHODS[key] = fn
        if uses_min_distance:
            _USES_MIN_DISTANCE.add(key)
        else:
            _USES_MIN_DISTANCE.discard(key)
        return fn

    return decorate


def uses_min_distance(name: str) -> bool:
    """Whether the instance method registered under ``name`` reads ``min_distance`` (of the built-in ones,
    only "watershed")."""
    return name.lower() in _USES_MIN_DISTANCE


def list_instance_methods() -> list[str]:
    """Names accepted by :func:`instances_from_mask` (sorted)."""
    return sorted(_METHODS)


def get_instance_method(name: str) -> InstanceMethod:
    """The method registered under ``name``; an unknown name lists the options."""
    return _METHODS[look_up_option(name, list_instance_methods(), "instance method")]


# Watershed's seed distance when nothing chose one (a model whose fit recorded none, the grid's starting
# predictor): about the radius of the smallest objects worth separating at the lectures' image scales.
DEFAULT_MIN_DISTANCE = 5


def instances_from_mask(
    mask: np.ndarray,
    foreground_classes: int | Sequence[int],
    method: str = "components",
    min_size: int = 0,
    probs: np.ndarray | None = None,
    min_distance: int = DEFAULT_MIN_DISTANCE,
    connectivity: int = 2,
) -> tuple[np.ndarray, int]:
    """Label object instances among the pixels of ``foreground_classes``.

    Args:
        mask: (H, W) class indices.
        foreground_classes: class index or indices that form objects.
        method: a registered method (:func:`list_instance_methods`): "components" (connected components),
            "watershed" (split touching objects: watershed of the negated distance transform, one marker per
            distance-transform peak), "boundary" (a 3-class model: ``foreground_classes`` are its
            (interior, boundary) classes; seeded watershed from the connected interiors) or "energy" (an
            energy-level model: ``foreground_classes`` are its levels 1..K in order; watershed of the
            negated energy from one marker per object core).
        min_size: instances with fewer pixels are removed (labels are renumbered 1..count).
        probs: optional (K, H, W) probabilities; for "watershed" the distance transform is multiplied by the
            foreground probability, so a seam where the network was unsure becomes a valley to split along;
            for "energy" the flooding follows the expected energy sum_k k * p(level k).
        min_distance: "watershed": minimum distance in pixels between two markers (about the smallest object
            radius).
        connectivity: 1 (4-neighbours) or 2 (8-neighbours): of components, watershed and boundary seeds.

    Returns:
        (labels int32 (H, W) with 0 = background and 1..count instances, count).
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        got = mask.shape if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ValueError(f"mask must be an (H, W) array, got {got}.")
    run = get_instance_method(method)
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
    labels = np.asarray(
        run(mask, classes, probs=probs, min_distance=min_distance, connectivity=connectivity), dtype=np.int64
    )
    if labels.shape != mask.shape:
        raise ValueError(f"instance method {method!r} returned shape {labels.shape}; expected {mask.shape}.")
    if labels.size and int(labels.min()) < 0:
        raise ValueError(
            f"instance method {method!r} returned negative labels; expected 0 = background, ids > 0."
        )
    return keep_large_instances(labels, min_size)


def keep_large_instances(labels: np.ndarray, min_size: int = 0) -> tuple[np.ndarray, int]:
    """Drop objects with fewer than ``min_size`` pixels and renumber the rest 1..n in their old order.

    ``labels`` (H, W) non-negative ids; returns (int32 (H, W), n). Written with a lookup table rather than
    ``skimage.morphology.remove_small_objects``: that function changed its size argument in skimage 0.26
    (``min_size`` -> ``max_size``, with another inequality) and does not renumber.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "uib":
        raise ValueError(f"labels must be an (H, W) integer image, got {labels.dtype} {labels.shape}.")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}.")
    flat = labels.astype(np.int64, copy=False).ravel()
    if flat.size and int(flat.min()) < 0:
        raise ValueError(f"labels must be >= 0, got min {int(flat.min())}.")
    if not flat.size or int(flat.max()) == 0:
        return np.zeros(labels.shape, dtype=np.int32), 0
    if int(flat.max()) > flat.size:  # sparse ids: compact first so the bincount stays small
        ids, flat = np.unique(flat, return_inverse=True)
        flat = flat + int(ids[0] != 0)
    sizes = np.bincount(flat)
    keep = sizes >= max(int(min_size), 1)
    keep[0] = False
    lut = np.zeros(sizes.size, dtype=np.int32)
    count = int(keep.sum())
    lut[keep] = np.arange(1, count + 1, dtype=np.int32)
    return lut[flat].reshape(labels.shape), count


def _foreground(mask: np.ndarray, classes: list[int]) -> np.ndarray:
    return np.isin(mask, classes)


@register_instance_method("components", uses_min_distance=False)
def _components(
    mask: np.ndarray, classes: list[int], *, probs: np.ndarray | None, min_distance: int, connectivity: int
) -> np.ndarray:
    structure = ndi.generate_binary_structure(2, connectivity)
    labels, _ = ndi.label(_foreground(mask, classes), structure=structure)
    return labels


def _check_probs(probs: np.ndarray, shape: tuple[int, ...]) -> None:
    if probs.ndim != 3 or probs.shape[1:] != shape:
        raise ValueError(f"probs must be (K, H, W) with (H, W) = {shape}, got {probs.shape}.")


class _WatershedInputs(NamedTuple):
    """What a watershed of one mask needs whatever its ``min_distance``: computed once for a grid of them."""

    foreground: np.ndarray
    distance: np.ndarray
    components: np.ndarray
    n_components: int
    structure: np.ndarray


def _watershed_inputs(
    mask: np.ndarray, classes: list[int], probs: np.ndarray | None, connectivity: int
) -> _WatershedInputs | None:
    foreground = _foreground(mask, classes)
    structure = ndi.generate_binary_structure(2, connectivity)
    if not foreground.any():
        return None
    distance = ndi.distance_transform_edt(foreground).astype(np.float32)
    if probs is not None:
        _check_probs(probs, foreground.shape)
        if probs.shape[0] == 1:
            fg_prob = probs[0] if 1 in classes else 1.0 - probs[0]
        else:
            fg_prob = probs[classes].sum(axis=0)
        distance *= np.clip(fg_prob, 0.0, 1.0)
    components, n_components = ndi.label(foreground, structure=structure)
    return _WatershedInputs(foreground, distance, components, n_components, structure)


def _watershed_from(inputs: _WatershedInputs, min_distance: int) -> np.ndarray:
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    foreground, distance, components, n_components, structure = inputs
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
    # Markers of a component may be merged away: instances_from_mask renumbers the ids that remain.
    return watershed(-distance, markers, mask=foreground, connectivity=structure)


@register_instance_method("watershed")
def _watershed(
    mask: np.ndarray, classes: list[int], *, probs: np.ndarray | None, min_distance: int, connectivity: int
) -> np.ndarray:
    inputs = _watershed_inputs(mask, classes, probs, connectivity)
    if inputs is None:
        return np.zeros(mask.shape, dtype=np.int32)
    return _watershed_from(inputs, min_distance)


def watershed_grid(
    mask: np.ndarray,
    foreground_classes: Sequence[int],
    min_distances: Sequence[int],
    probs: np.ndarray | None = None,
    min_size: int = 0,
    connectivity: int = 2,
) -> dict[int, tuple[np.ndarray, int]]:
    """``{d: instances_from_mask(mask, foreground_classes, "watershed", min_size, probs, d, connectivity)}``
    for every ``d`` of ``min_distances``, with the distance transform and the components computed once
    (choosing ``min_distance`` on validation images tries 7 of them per image)."""
    classes = [int(c) for c in foreground_classes]
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise ValueError(f"mask must be an (H, W) array, got {getattr(mask, 'shape', type(mask).__name__)}.")
    if not classes:
        raise ValueError("foreground_classes is empty; name at least one class index.")
    inputs = _watershed_inputs(mask, classes, probs, connectivity)
    out = {}
    for d in dict.fromkeys(int(d) for d in min_distances):
        labels = np.zeros(mask.shape, dtype=np.int32) if inputs is None else _watershed_from(inputs, d)
        out[d] = keep_large_instances(labels, min_size)
    return out


@register_instance_method("boundary", uses_min_distance=False)
def _boundary(
    mask: np.ndarray, classes: list[int], *, probs: np.ndarray | None, min_distance: int, connectivity: int
) -> np.ndarray:
    """Seeded watershed for a background / interior / boundary model (U-Net paper, touching cells).

    ``classes`` = (interior, boundary). Seeds: connected components of the interior class. Every foreground
    pixel joins the seed it floods from first over ``1 - p(interior)`` (with ``probs``) or over the distance
    to the nearest interior pixel (without); the boundary class is where neighbouring objects meet.
    Foreground pieces that hold no interior pixel become objects of their own. ``min_distance`` is unused.
    """
    from skimage.segmentation import watershed

    if len(classes) != 2:
        raise ValueError(
            "instance method 'boundary' needs the foreground classes (interior, boundary) of a 3-class "
            f"model, e.g. [1, 2] for background/interior/boundary; got {classes}."
        )
    interior_class = classes[0]
    structure = ndi.generate_binary_structure(2, connectivity)
    foreground = _foreground(mask, classes)
    interior = mask == interior_class
    seeds, n_seeds = ndi.label(interior, structure=structure)
    if probs is not None:
        _check_probs(probs, mask.shape)
        if interior_class >= probs.shape[0]:
            raise ValueError(
                f"probs has {probs.shape[0]} classes; the interior class {interior_class} is not one."
            )
        elevation = 1.0 - np.clip(probs[interior_class].astype(np.float32), 0.0, 1.0)
    else:
        elevation = ndi.distance_transform_edt(~interior).astype(np.float32)
    labels = watershed(elevation, seeds, mask=foreground, connectivity=structure) if n_seeds else seeds
    rest, _ = ndi.label(foreground & (labels == 0), structure=structure)
    return np.where(rest > 0, rest + n_seeds, labels)


# Marker components smaller than this (px) are not taken at their level: a speck of a high level inside an
# object must not become a second marker; the object then gets its marker at the next lower level.
ENERGY_MIN_SEED_SIZE = 4


def energy_markers(
    levels: np.ndarray, connectivity: int = 2, min_seed_size: int = ENERGY_MIN_SEED_SIZE
) -> np.ndarray:
    """(H, W) integer energy levels (0 background, 1..K) -> int32 (H, W) markers, one id per object core.

    From the top level down to 1, each connected component of ``levels >= t`` that holds no marker yet
    becomes one (if it has at least ``min_seed_size`` pixels, or always at t = 1): the cores of the
    energy's basins, whichever level each object reaches. A fixed seed level would lose the objects too small
    to reach it; the top level of a large object and the low level of a small one both mark one object.
    """
    structure = ndi.generate_binary_structure(2, connectivity)
    markers = np.zeros(levels.shape, dtype=np.int32)
    count = 0
    top = int(levels.max()) if levels.size else 0
    for level in range(top, 0, -1):
        components, n = ndi.label(levels >= level, structure=structure)
        if n == 0:
            continue
        new = np.ones(n + 1, dtype=bool)
        new[components[markers > 0]] = False  # components that hold a deeper core already
        new[0] = False
        if level > 1:
            new &= np.bincount(components.ravel(), minlength=n + 1) >= min_seed_size
        ids = np.flatnonzero(new)
        lut = np.zeros(n + 1, dtype=np.int32)
        lut[ids] = np.arange(count + 1, count + 1 + ids.size, dtype=np.int32)
        markers = np.where(markers > 0, markers, lut[components])
        count += ids.size
    return markers


@register_instance_method("energy", uses_min_distance=False)
def _energy(
    mask: np.ndarray, classes: list[int], *, probs: np.ndarray | None, min_distance: int, connectivity: int
) -> np.ndarray:
    """Deep Watershed Transform flooding for an energy-level model (Bai and Urtasun, CVPR 2017).

    ``classes`` = the level classes 1..K in order (e.g. [1, 2, 3, 4] for background, level_1..level_4): the
    pixel's level is its class's position + 1, background 0. Markers: :func:`energy_markers` of the predicted
    levels. Flooding: watershed of the negated energy (the expected energy sum_k k * p(level k) with
    ``probs``, else the level map) within the foreground (level >= 1). ``min_distance`` is unused.
    """
    from skimage.segmentation import watershed

    levels = np.zeros(mask.shape, dtype=np.int32)
    for level, cls in enumerate(classes, start=1):
        levels[mask == cls] = level
    foreground = levels > 0
    if not foreground.any():
        return np.zeros(mask.shape, dtype=np.int32)
    if probs is not None:
        _check_probs(probs, mask.shape)
        if max(classes) >= probs.shape[0]:
            raise ValueError(
                f"probs has {probs.shape[0]} classes; the level classes {classes} are not all in it."
            )
        energy = np.zeros(mask.shape, dtype=np.float32)
        for level, cls in enumerate(classes, start=1):
            energy += level * np.clip(probs[cls].astype(np.float32), 0.0, 1.0)
    else:
        energy = levels.astype(np.float32)
    markers = energy_markers(levels, connectivity)
    structure = ndi.generate_binary_structure(2, connectivity)
    return watershed(-energy, markers, mask=foreground, connectivity=structure)
