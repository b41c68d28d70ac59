"""A tiny synthetic instance-segmentation folder (DSB2018's layout) for the Mask R-CNN tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from unetkit.data.instances import save_label_image


def disk_labels(
    shape: tuple[int, int], count: int, rng: np.random.Generator, radius: tuple[int, int] = (3, 7)
) -> np.ndarray:
    """int32 (H, W) labels of ``count`` non-overlapping disks (later disks skip taken pixels)."""
    height, width = shape
    labels = np.zeros(shape, dtype=np.int32)
    yy, xx = np.mgrid[:height, :width]
    label = 0
    for _ in range(count):
        r = int(rng.integers(radius[0], radius[1] + 1))
        cy, cx = int(rng.integers(r, height - r)), int(rng.integers(r, width - r))
        disk = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (labels == 0)
        if disk.sum() >= 9:
            label += 1
            labels[disk] = label
    return labels


def disk_image(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W, 4) RGBA image: bright nuclei on a dark, noisy background (opaque alpha)."""
    gray = np.where(labels > 0, 200, 30) + rng.normal(0, 10, labels.shape)
    gray = np.clip(gray, 0, 255).astype(np.uint8)
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])


def make_instance_folder(
    root: Path, sizes: dict[str, list[tuple[int, int]]], count: int = 6, seed: int = 0
) -> Path:
    """``root/images``, ``root/labels`` and one list per split; ``sizes``: e.g. ``{"train": [(64, 64)]}``."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for split, shapes in sizes.items():
        names = []
        for i, shape in enumerate(shapes):
            name = f"{split}{i:02d}"
            labels = disk_labels(shape, count, rng)
            Image.fromarray(disk_image(labels, rng)).save(root / "images" / f"{name}.png")
            save_label_image(root / "labels" / f"{name}.png", labels)
            names.append(name)
        (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    return root
