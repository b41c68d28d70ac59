"""The U-Net paper's pixel weight map (a NumPy target transform) and an on-disk cache for it.

Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image Segmentation", MICCAI 2015, eq. 2:

    w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 * sigma^2))

``w_c`` balances class frequencies, ``d1``/``d2`` are the distances to the border of the nearest and the
second-nearest object. The second term makes the thin background gaps between touching cells expensive, so
the network learns to separate them.

Written by hand because no maintained library ships this map (MONAI, SMP, nnU-Net, skimage do not); it is
built from ``scipy.ndimage.label`` and ``scipy.ndimage.distance_transform_edt``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from unetkit.constants import IGNORE_INDEX
from unetkit.files import atomic_write

__all__ = ["WeightMapCache", "WeightMapConfig", "class_balance_weights", "unet_weight_map"]

logger = logging.getLogger(__name__)

# The border term is dropped where d2 exceeds TRUNCATE_SIGMAS * sigma: there it is below
# w0 * exp(-TRUNCATE_SIGMAS**2 / 2) = w0 * 1.5e-8, far under float32 resolution of w_c ~ 1.
TRUNCATE_SIGMAS = 6.0


def class_balance_weights(
    class_map: np.ndarray,
    valid: np.ndarray,
    class_weights: Literal["balanced"] | Mapping[int, float] | None,
) -> np.ndarray:
    """Per-pixel class weight ``w_c`` (H, W) float64 (0 on invalid pixels).

    ``"balanced"``: ``w_c(x) = n_valid / (K * n_k)`` for the class ``k`` of pixel x, where ``n_k`` counts the
    valid pixels of class k and ``K`` the classes present (sklearn's "balanced" rule). Every class then
    carries the same total weight and the mean of ``w_c`` over valid pixels is 1.
    A mapping gives ``w_c`` per class id (every present class must be listed). ``None`` gives 1 everywhere.
    """
    out = np.zeros(class_map.shape, dtype=np.float64)
    if class_weights is None:
        out[valid] = 1.0
        return out
    classes, inverse, counts = np.unique(class_map[valid], return_inverse=True, return_counts=True)
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise ValueError(f"class_weights must be 'balanced', a dict or None, got {class_weights!r}.")
        per_class = counts.sum() / (len(classes) * counts.astype(np.float64))
    else:
        missing = [int(c) for c in classes if int(c) not in class_weights]
        if missing:
            raise ValueError(
                f"class_weights dict has no entry for classes {missing} present in the mask; "
                f"got keys {sorted(class_weights)}."
            )
        per_class = np.array([float(class_weights[int(c)]) for c in classes], dtype=np.float64)
    out[valid] = per_class[inverse.ravel()]
    return out


def _instances_from_labels(
    labels: np.ndarray,
    valid: np.ndarray,
    from_instances: bool,
    foreground_classes: Iterable[int] | None,
    ignore_index: int | None,
) -> tuple[np.ndarray, int, np.ndarray]:
    """Return (instance image with ids 1..n and 0 elsewhere, n, class map used for w_c)."""
    if from_instances:
        # Relabel arbitrary instance ids (e.g. 17, 4000) to 1..n so find_objects stays small.
        ids, inverse = np.unique(np.where(valid, labels, 0), return_inverse=True)
        instances = inverse.reshape(labels.shape).astype(np.int32)
        if ids[0] != 0:  # no background pixel at all: shift so ids start at 1 (ids are >= 0)
            instances += 1
        n = int(instances.max())
        return instances, n, (instances > 0).astype(np.int64)
    if foreground_classes is None:
        present = np.unique(labels[valid])
        fg = [int(c) for c in present if c != 0 and c != ignore_index]
    else:
        fg = [int(c) for c in foreground_classes]
    instances = np.zeros(labels.shape, dtype=np.int32)
    n = 0
    for cls in fg:
        # Label each class on its own, so touching objects of different classes stay separate objects.
        # Default structure = 4-connectivity: cells that only touch diagonally count as two objects.
        comp, k = ndimage.label((labels == cls) & valid)
        instances[comp > 0] = comp[comp > 0] + n
        n += int(k)
    return instances, n, labels.astype(np.int64)


def _nearest_two_distances(instances: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Distances (H, W) to the nearest and second-nearest object, exact up to ``reach`` (inf beyond).

    One EDT per object, each restricted to the object's bounding box grown by ``reach``: a pixel outside that
    box is farther than ``reach`` from the object, so the crop is exact where it matters and the total cost
    is bounded by the objects' sizes, not n * H * W.
    """
    d1 = np.full(instances.shape, np.inf)
    d2 = np.full(instances.shape, np.inf)
    margin = math.ceil(reach) + 1
    height, width = instances.shape
    for k, box in enumerate(ndimage.find_objects(instances), start=1):
        if box is None:
            continue
        rows, cols = box
        crop = (
            slice(max(rows.start - margin, 0), min(rows.stop + margin, height)),
            slice(max(cols.start - margin, 0), min(cols.stop + margin, width)),
        )
        # EDT measures the distance to the nearest zero, i.e. to the nearest pixel of object k.
        dist = ndimage.distance_transform_edt(instances[crop] != k)
        c1, c2 = d1[crop], d2[crop]
        d2[crop] = np.minimum(c2, np.maximum(c1, dist))
        d1[crop] = np.minimum(c1, dist)
    return d1, d2


def unet_weight_map(
    labels: np.ndarray,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: Literal["balanced"] | Mapping[int, float] | None = "balanced",
    foreground_classes: Iterable[int] | None = None,
    from_instances: bool = False,
    ignore_index: int | None = IGNORE_INDEX,
) -> np.ndarray:
    """U-Net paper weight map ``w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))``.

    Args:
        labels: (H, W) integer mask. A semantic mask by default; objects are then the 4-connected components
            of each class in ``foreground_classes``. With ``from_instances=True`` it is an instance image:
            0 = background, every other id (except ``ignore_index``) is one object.
        w0: border weight (paper: 10).
        sigma: border width in pixels (paper: about 5).
        class_weights: ``w_c``; see :func:`class_balance_weights`. Classes are the semantic classes, or
            {0: background, 1: foreground} when ``from_instances``.
        foreground_classes: semantic classes whose components are objects; default every present class
            except 0 and ``ignore_index`` (ISBI convention: cells = 1 are objects, membranes = 0 background).
        from_instances: treat ``labels`` as instance ids.
        ignore_index: pixels with this label are neither objects nor background and get weight 0 (the loss
            skips them anyway). ``None`` disables it.

    Returns:
        (H, W) float32. The border term is added on background pixels only (pixels of no object), where the
        paper needs it: the gaps between touching cells. It needs two objects (d2 is undefined otherwise) and
        is truncated to 0 where ``d2 > 6 sigma`` (error below ``w0 * 1.6e-8``).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be an (H, W) integer array, got shape {labels.shape} and dtype {labels.dtype}."
        )
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be non-negative class or instance ids, got min {labels.min()}.")
    if sigma <= 0 or w0 < 0:
        raise ValueError(f"Need sigma > 0 and w0 >= 0, got sigma={sigma}, w0={w0}.")
    valid = np.ones(labels.shape, dtype=bool) if ignore_index is None else labels != ignore_index
    instances, n, class_map = _instances_from_labels(
        labels, valid, from_instances, foreground_classes, ignore_index
    )
    weight = class_balance_weights(class_map, valid, class_weights)
    if w0 > 0 and n >= 2:
        reach = TRUNCATE_SIGMAS * sigma
        d1, d2 = _nearest_two_distances(instances, reach)
        border = valid & (instances == 0) & np.isfinite(d2)
        weight[border] += w0 * np.exp(-((d1[border] + d2[border]) ** 2) / (2.0 * sigma**2))
    return weight.astype(np.float32)


class WeightMapCache:
    """Compute :func:`unet_weight_map` once per mask and keep it as a ``.npy`` file.

    The file name is ``<key>-<hash>.npy`` where the hash covers the mask bytes, shape and dtype and the
    weight-map parameters, so a changed mask or parameter never returns a stale map. Files are written
    atomically (:func:`unetkit.files.atomic_write`), so concurrent DataLoader workers never read half a file.

    Example:
        >>> cache = WeightMapCache("/tmp/wmaps", w0=10.0, sigma=5.0)  # doctest: +SKIP
        >>> w = cache.get("train_00", mask)  # (H, W) float32  # doctest: +SKIP
    """

    def __init__(self, cache_dir: str | os.PathLike[str], **params: Any) -> None:
        try:
            inspect.signature(unet_weight_map).bind(None, **params)
        except TypeError as err:
            raise TypeError(f"WeightMapCache got an invalid unet_weight_map parameter: {err}.") from err
        self.cache_dir = Path(cache_dir)
        self.params = dict(params)
        self._params_blob = json.dumps(self.params, sort_keys=True, default=_jsonable).encode()

    def path_for(self, key: str, mask: np.ndarray) -> Path:
        """Cache file path for ``(key, mask)`` with the stored parameters."""
        mask = np.ascontiguousarray(mask)
        digest = hashlib.sha256()
        digest.update(f"{mask.shape}|{mask.dtype.str}|".encode())
        digest.update(mask.tobytes())
        digest.update(self._params_blob)
        safe_key = re.sub(r"[^A-Za-z0-9_.-]", "_", str(key))[:100]
        return self.cache_dir / f"{safe_key}-{digest.hexdigest()[:20]}.npy"

    def get(self, key: str, mask: np.ndarray) -> np.ndarray:
        """Return the (H, W) float32 weight map of ``mask``, computing and storing it on a miss."""
        path = self.path_for(key, mask)
        if path.is_file():
            try:
                return np.load(path)
            except (OSError, ValueError) as err:  # truncated/corrupt file: recompute below
                logger.warning("Recomputing unreadable weight-map cache file %s: %s", path, err)
        weight = unet_weight_map(mask, **self.params)
        atomic_write(path, lambda handle: np.save(handle, weight))
        return weight


@dataclass(frozen=True)
class WeightMapConfig:
    """The ``data.weight_map`` config section: :func:`unet_weight_map` parameters and where maps are cached.

    ``cache_dir`` None: no cache for :class:`~unetkit.data.folder.FolderDataset`; the training data module
    replaces it with ``<cache root>/weight_maps/<dataset>`` (see :func:`unetkit.data.datasets.cache_root`).
    """

    w0: float = 10.0
    sigma: float = 5.0
    class_weights: Literal["balanced"] | dict[int, float] | None = "balanced"
    foreground_classes: tuple[int, ...] | None = None
    from_instances: bool = False
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        # Checked here too, so the training config refuses bad values before a run starts.
        if not (self.sigma > 0 and self.w0 >= 0):
            raise ValueError(f"weight map needs sigma > 0 and w0 >= 0, got sigma={self.sigma}, w0={self.w0}.")

    def map_params(self) -> dict[str, Any]:
        """Keyword arguments of :func:`unet_weight_map` (every field except ``cache_dir``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "cache_dir"}


def _jsonable(value: Any) -> Any:
    # Parameters such as foreground_classes may be tuples/sets/numpy values: hash them in a stable form.
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)
