"""A small synthetic cell dataset, generated deterministically from a seed.

Each image shows touching objects on a noisy textured background:

* class 1: round cells (bright, with speckle texture),
* class 2: elongated cells (medium brightness, striped along their long axis),
* classes 3..: further shapes (squares, then triangles...), if ``num_classes`` > 3,
* class 0: background, including a 2-pixel dark gap where two objects touch (like membranes in EM images),
  so separating touching objects needs exactly the thin borders that the U-Net weight map emphasises.

Files written: ``images/NNN.png`` (uint8, gray or RGB), ``masks/NNN.png`` (uint8 class index),
``instances/NNN.png`` (uint16 instance id, 0 = background, gap pixels 0), and
``train.txt``/``val.txt``/``test.txt`` (contiguous two-thirds / one-sixth / one-sixth).
Same arguments -> byte-identical files.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import draw

from unetkit.files import atomic_path, atomic_write_text

logger = logging.getLogger(__name__)

# Mean gray level and RGB colour per class (index 0 = background); classes beyond the table reuse it
# cyclically with an offset so every class stays distinguishable.
_GRAY = (55.0, 185.0, 120.0, 150.0, 95.0, 215.0)
_RGB = ((60, 50, 75), (205, 120, 110), (110, 175, 120), (120, 130, 200), (200, 190, 90), (150, 90, 180))


def _shape_mask(
    cls: int, center: tuple[float, float], size: float, angle: float, shape: tuple[int, int]
) -> np.ndarray:
    """Boolean (H, W) mask of one object of class ``cls`` (1 round, 2 elongated, 3 square, 4+ triangle)."""
    out = np.zeros(shape, dtype=bool)
    r, c = center
    kind = (cls - 1) % 4
    if kind == 0:
        rr, cc = draw.disk((r, c), size, shape=shape)
    elif kind == 1:
        rr, cc = draw.ellipse(r, c, size * 1.7, size * 0.55, shape=shape, rotation=angle)
    elif kind == 2:
        half = size * 0.85
        corners = np.array([[-half, -half], [-half, half], [half, half], [half, -half]])
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        pts = corners @ rot.T + [r, c]
        rr, cc = draw.polygon(pts[:, 0], pts[:, 1], shape=shape)
    else:
        t = angle + np.array([0.0, 2.0 * np.pi / 3.0, 4.0 * np.pi / 3.0])
        rr, cc = draw.polygon(r + size * 1.2 * np.sin(t), c + size * 1.2 * np.cos(t), shape=shape)
    out[rr, cc] = True
    return out


def _touching_borders(instances: np.ndarray) -> np.ndarray:
    """Pixels that have a 4-neighbour belonging to a *different* object (object-object borders only)."""
    border = np.zeros(instances.shape, dtype=bool)
    for axis in (0, 1):
        a = np.take(instances, np.arange(instances.shape[axis] - 1), axis=axis)
        b = np.take(instances, np.arange(1, instances.shape[axis]), axis=axis)
        diff = (a != b) & (a > 0) & (b > 0)
        if axis == 0:
            border[:-1] |= diff
            border[1:] |= diff
        else:
            border[:, :-1] |= diff
            border[:, 1:] |= diff
    return border


def generate_sample(
    rng: np.random.Generator, size: tuple[int, int], num_classes: int, channels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sample: image uint8 (H, W, C), mask uint8 (H, W) class index, instances uint16 (H, W)."""
    height, width = size
    instances = np.zeros(size, dtype=np.uint16)
    classes_of: list[int] = [0]
    centers: list[tuple[float, float, float]] = []
    n_objects = max(3, round(height * width / 350.0 * rng.uniform(0.8, 1.2)))
    base = min(height, width) / 96.0
    for _ in range(n_objects):
        cls = int(rng.integers(1, num_classes))
        obj_size = float(rng.uniform(6.0, 10.0) * base)
        if centers and rng.random() < 0.5:
            # Put it next to an existing object so the two touch (slight overlap, later object on top).
            pr, pc, psize = centers[int(rng.integers(len(centers)))]
            theta = rng.uniform(0, 2 * np.pi)
            dist = (psize + obj_size) * 0.85
            r, c = pr + dist * np.sin(theta), pc + dist * np.cos(theta)
        else:
            r, c = rng.uniform(0, height), rng.uniform(0, width)
        angle = float(rng.uniform(0, np.pi))
        obj = _shape_mask(cls, (r, c), obj_size, angle, size)
        if obj.sum() < 12:
            continue
        instances[obj] = len(classes_of)
        classes_of.append(cls)
        centers.append((r, c, obj_size))
    # Objects that were fully covered by later ones vanish; renumber the visible ones 1..K in id order.
    visible = np.unique(instances)
    visible = visible[visible > 0]
    relabel = np.zeros(len(classes_of), dtype=np.uint16)
    relabel[visible] = np.arange(1, visible.size + 1, dtype=np.uint16)
    class_lut = np.zeros(visible.size + 1, dtype=np.uint8)
    class_lut[1:] = np.asarray(classes_of, dtype=np.uint8)[visible]
    instances = relabel[instances]
    instances[_touching_borders(instances)] = 0
    mask = class_lut[instances]

    # Image: per-class base intensity + class texture, blurred a little, plus pixel noise.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    n_ch = 1 if channels == 1 else 3
    image = np.zeros((height, width, n_ch), dtype=np.float64)
    for cls in range(num_classes):
        sel = mask == cls
        if channels == 1:
            level = np.array([_GRAY[cls % len(_GRAY)] + 7.0 * (cls // len(_GRAY))])
        else:
            level = np.array(_RGB[cls % len(_RGB)], dtype=np.float64)
        image[sel] = level
    speckle = ndimage.gaussian_filter(rng.normal(0, 1, size), 1.0) * 25.0
    stripes = 12.0 * np.sin((xx + yy) * 0.9)
    smooth_bg = ndimage.gaussian_filter(rng.normal(0, 1, size), 6.0) * 60.0
    texture = (
        np.where(mask == 1, speckle, 0.0)
        + np.where(mask == 2, stripes, 0.0)
        + np.where(mask == 0, smooth_bg, 0.0)
    )
    image += texture[..., None]
    image = ndimage.gaussian_filter(image, sigma=(0.7, 0.7, 0))
    image += rng.normal(0, 8.0, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask, instances


def _save_png(array: np.ndarray, path: Path) -> None:
    # Atomic: DDP ranks may generate the same cached dataset at once; a reader never sees half a file.
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(array).save(tmp)


def make_synthetic_dataset(
    root: str | Path,
    num_images: int = 24,
    size: tuple[int, int] = (96, 96),
    num_classes: int = 3,
    channels: int = 1,
    seed: int = 0,
) -> Path:
    """Write the synthetic dataset under ``root`` and return ``root``. Deterministic in all arguments."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2 (background + objects), got {num_classes}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if num_images < 3:
        raise ValueError(f"num_images must be >= 3 (one per split), got {num_images}")
    if min(size) < 16:
        raise ValueError(f"size must be at least 16x16, got {size}")
    root = Path(root)
    for sub in ("images", "masks", "instances"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    # One child seed per image: image i does not depend on how many images are generated.
    children = np.random.SeedSequence(seed).spawn(num_images)
    stems = [f"{i:03d}" for i in range(num_images)]
    for stem, child in zip(stems, children):
        image, mask, instances = generate_sample(
            np.random.default_rng(child), (size[0], size[1]), num_classes, channels
        )
        _save_png(image[..., 0] if channels == 1 else image, root / "images" / f"{stem}.png")
        _save_png(mask, root / "masks" / f"{stem}.png")
        _save_png(instances, root / "instances" / f"{stem}.png")
    n_val = max(1, num_images // 6)
    n_test = max(1, num_images // 6)
    n_train = num_images - n_val - n_test
    splits = {
        "train": stems[:n_train],
        "val": stems[n_train : n_train + n_val],
        "test": stems[n_train + n_val :],
    }
    for name, names in splits.items():
        # test.txt comes last: its presence marks a complete dataset (see the synthetic dataset builder).
        atomic_write_text(root / f"{name}.txt", "".join(s + "\n" for s in names))
    logger.info("wrote %d synthetic images to %s", num_images, root)
    return root
