"""Instances from a predicted class mask: connected components, a watershed that splits touching objects,
and a seeded watershed from the interiors of a 3-class (background / interior / boundary) model.

Methods live in a small registry: :func:`register_instance_method` adds one, :func:`list_instance_methods`
names them, and :func:`instances_from_mask` runs any of them by name (then drops small objects and numbers
the rest 1..n), so ``predict --instances METHOD`` can offer every registered method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from scipy import ndimage as ndi

from unetkit.options import look_up_option

__all__ = [
    "INSTANCE_METHODS",
    "InstanceMethod",
    "get_instance_method",
    "instances_from_mask",
    "list_instance_methods",
    "register_instance_method",
]

# The methods that split the mask of *any* semantic model (what the serve API offers); "boundary" needs a
# background/interior/boundary model. list_instance_methods() names every registered method.
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


def register_instance_method(name: str) -> Callable[[InstanceMethod], InstanceMethod]:
    """Decorator: register an :class:`InstanceMethod` under ``name`` (case-insensitive)."""

    def decorate(fn: InstanceMethod) -> InstanceMethod:
        key = name.lower()
        if key in ("", "none"):
            raise ValueError(f"{name!r} cannot name an instance method (it means 'no instances').")
        if key in _METHODS and _METHODS[key] is not fn:
            raise ValueError(f"An instance method is already registered under the name {key!r}.")
        _METHODS[key] = fn
        return fn

    return decorate


def list_instance_methods() -> list[str]:
    """Names accepted by :func:`instances_from_mask` (sorted)."""
    return sorted(_METHODS)


def get_instance_method(name: str) -> InstanceMethod:
    """The method registered under ``name``; an unknown name lists the options."""
    return _METHODS[look_up_option(name, list_instance_methods(), "instance method")]


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
        method: a registered method (:func:`list_instance_methods`): "components" (connected components),
            "watershed" (split touching objects: watershed of the negated distance transform, one marker per
            distance-transform peak) or "boundary" (a 3-class model: ``foreground_classes`` are its
            (interior, boundary) classes; seeded watershed from the connected interiors).
        min_size: instances with fewer pixels are removed (labels are renumbered 1..count).
        probs: optional (K, H, W) probabilities; for "watershed" the distance transform is multiplied by the
            foreground probability, so a seam where the network was unsure becomes a valley to split along.
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
    if not labels.size or int(labels.max()) == 0:
        return np.zeros(mask.shape, dtype=np.int32), 0
    if int(labels.max()) > labels.size:
        # Sparse ids (a registered method may return any): compact them first so bincount stays small.
        ids, inverse = np.unique(labels.ravel(), return_inverse=True)
        labels = (inverse + int(ids[0] != 0)).reshape(mask.shape)
    # Renumber kept labels 1..n in their old order; dropped ones (and ids a method left unused) become
    # background / disappear.
    sizes = np.bincount(labels.ravel())
    keep = sizes >= max(min_size, 1)
    keep[0] = False
    lut = np.zeros(sizes.size, dtype=np.int32)
    count = int(keep.sum())
    lut[keep] = np.arange(1, count + 1, dtype=np.int32)
    return lut[labels], count


def _foreground(mask: np.ndarray, classes: list[int]) -> np.ndarray:
    return np.isin(mask, classes)


@register_instance_method("components")
def _components(
    mask: np.ndarray, classes: list[int], *, probs: np.ndarray | None, min_distance: int, connectivity: int
) -> np.ndarray:
    structure = ndi.generate_binary_structure(2, connectivity)
    labels, _ = ndi.label(_foreground(mask, classes), structure=structure)
    return labels


def _check_probs(probs: np.ndarray, shape: tuple[int, ...]) -> None:
    if probs.ndim != 3 or probs.shape[1:] != shape:
        raise ValueError(f"probs must be (K, H, W) with (H, W) = {shape}, got {probs.shape}.")


@register_instance_method("watershed")
def _watershed(
    mask: np.ndarray, classes: list[int], *, probs: np.ndarray | None, min_distance: int, connectivity: int
) -> np.ndarray:
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    foreground = _foreground(mask, classes)
    structure = ndi.generate_binary_structure(2, connectivity)
    if not foreground.any():
        return np.zeros(foreground.shape, dtype=np.int32)
    distance = ndi.distance_transform_edt(foreground).astype(np.float32)
    if probs is not None:
        _check_probs(probs, foreground.shape)
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
    # Markers of a component may be merged away: instances_from_mask renumbers the ids that remain.
    return watershed(-distance, markers, mask=foreground, connectivity=structure)


@register_instance_method("boundary")
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
