"""Fixed class colours (NumPy only, no torch, no plotting): the one palette of masks, overlays and figures.

The same class always gets the same colour, in every figure and file: class 0 (background) is black,
classes 1-20 take Sasha Trubetskoy's 20 distinct colours, and higher classes the Pascal VOC bit-interleaved
palette (skipping colours already used), so up to 256 classes are distinct. Ignored pixels are drawn in
``IGNORE_COLOR``. Lives outside ``viz`` so that writers (palette PNGs) and the server need no plotting code.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IGNORE_COLOR", "MAX_PALETTE_CLASSES", "class_palette"]

MAX_PALETTE_CLASSES = 256
IGNORE_COLOR = (255, 255, 255)

_DISTINCT = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
)  # fmt: skip


def _voc_color(index: int) -> tuple[int, int, int]:
    r = g = b = 0
    c = index
    for j in range(8):
        r |= ((c >> 0) & 1) << (7 - j)
        g |= ((c >> 1) & 1) << (7 - j)
        b |= ((c >> 2) & 1) << (7 - j)
        c >>= 3
    return r, g, b


def class_palette(num_classes: int) -> np.ndarray:
    """Fixed distinct colours: uint8 (num_classes, 3); row 0 (background) is black.

    Raises:
        ValueError: ``num_classes`` outside 1..256 (a palette PNG holds 256 colours).
    """
    if not isinstance(num_classes, (int, np.integer)) or not 1 <= num_classes <= MAX_PALETTE_CLASSES:
        raise ValueError(f"num_classes must be an int in 1..{MAX_PALETTE_CLASSES}, got {num_classes!r}.")
    colors: list[tuple[int, int, int]] = [(0, 0, 0), *_DISTINCT]
    used = set(colors)
    voc = 1
    while len(colors) < num_classes:
        c = _voc_color(voc)
        voc += 1
        if c not in used:
            colors.append(c)
            used.add(c)
    return np.asarray(colors[:num_classes], dtype=np.uint8)
