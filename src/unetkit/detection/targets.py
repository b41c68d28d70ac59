"""Instance label images -> torchvision detection targets, and images -> Mask R-CNN input tensors.

A label image is (H, W): 0 = background, every other value one object (:mod:`unetkit.data.instances`).
torchvision's Mask R-CNN wants, per image, a float RGB tensor (3, H, W) in [0, 1] and a target dict:

* ``boxes``: float32 (N, 4), ``x0, y0, x1, y1`` in pixels with the *exclusive* corner: an object covering
  columns 3..7 has ``x0 = 3, x1 = 8`` (the box covers the pixels' squares; a one-pixel object has area 1);
* ``labels``: int64 (N,), all ones (one foreground class, "nucleus");
* ``masks``: uint8 (N, H, W), 0/1.

An image without objects gives tensors of shapes (0, 4), (0,) and (0, H, W): torchvision trains on it (the
RPN and the box head learn background only).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from scipy import ndimage

__all__ = ["DEFAULT_MIN_AREA", "image_mean_std", "image_to_tensor", "labels_to_target", "to_rgb"]

DEFAULT_MIN_AREA = 4  # objects (or crop slivers of objects) with fewer pixels are dropped from the targets


def labels_to_target(labels: np.ndarray, min_area: int = DEFAULT_MIN_AREA) -> dict[str, torch.Tensor]:
    """Target dict of an (H, W) instance label image (see the module docstring).

    Objects are ordered by label value; objects with fewer than ``min_area`` pixels are dropped (a crop cuts
    nuclei at its border into slivers that no detector can box; a 1-3 pixel object is an annotation
    artefact at this scale).
    """
    if not isinstance(labels, np.ndarray) or labels.ndim != 2 or labels.dtype.kind not in "uib":
        got = f"{labels.dtype} {labels.shape}" if isinstance(labels, np.ndarray) else type(labels).__name__
        raise ValueError(f"labels must be an integer (H, W) label image, got {got}")
    if labels.dtype.kind == "i" and labels.size and int(labels.min()) < 0:
        raise ValueError(f"labels must be >= 0 (0 = background), got min {int(labels.min())}")
    height, width = labels.shape
    labels = labels.astype(np.int64, copy=False)
    # find_objects: one bounding slice per label value in one pass (None for values that do not occur).
    ids, slices = [], []
    for value, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is not None:
            ids.append(value)
            slices.append(found)
    boxes, masks = [], []
    for value, (rows, cols) in zip(ids, slices):
        window = labels[rows, cols] == value
        if int(window.sum()) < min_area:
            continue
        mask = np.zeros((height, width), dtype=np.uint8)
        mask[rows, cols] = window
        masks.append(mask)
        boxes.append((cols.start, rows.start, cols.stop, rows.stop))
    if not boxes:
        return {
            "boxes": torch.zeros((0, 4), dtype=torch.float32),
            "labels": torch.zeros((0,), dtype=torch.int64),
            "masks": torch.zeros((0, height, width), dtype=torch.uint8),
        }
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32),
        "labels": torch.ones(len(boxes), dtype=torch.int64),
        "masks": torch.from_numpy(np.stack(masks)),
    }


def to_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) from (H, W), (H, W, 1), (H, W, 3) or (H, W, 4): gray is repeated, alpha dropped.

    Alpha is dropped whatever it holds: Mask R-CNN sees colour only (DSB2018's images are RGBA with an opaque
    alpha; :func:`unetkit.data.io.read_image` already drops an opaque alpha).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = f"{image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be a uint8 array (H, W[, C]), got {got}; convert it to 8 bits")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape[:2]:
        raise ValueError(f"image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {image.shape}")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[..., :3]


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """float32 (3, H, W) in [0, 1] from a uint8 image (any layout :func:`to_rgb` takes)."""
    rgb = np.ascontiguousarray(to_rgb(image).transpose(2, 0, 1))
    return torch.from_numpy(rgb).float().div_(255.0)


def image_mean_std(images: Iterable[np.ndarray]) -> tuple[list[float], list[float]]:
    """Per-channel RGB mean and std (values in [0, 1]) over all pixels of ``images`` (float64 sums).

    Works on decoded arrays (after :func:`to_rgb`), so grey and RGB images of one folder count alike;
    :func:`unetkit.data.folder.compute_mean_std` reads files with one fixed channel count instead.
    """
    total = np.zeros(3)
    total_sq = np.zeros(3)
    count = 0
    for image in images:
        flat = to_rgb(image).reshape(-1, 3).astype(np.float64) / 255.0
        total += flat.sum(0)
        total_sq += (flat**2).sum(0)
        count += flat.shape[0]
    if count == 0:
        raise ValueError("image_mean_std got no images")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    # A constant channel (std 0) would divide by zero in the model's normalisation.
    std = np.maximum(std, 1e-3)
    return [float(m) for m in mean], [float(s) for s in std]
