"""Fixed class colours (NumPy only, no torch, no plotting): the one palette of masks, overlays and figures.

The same class always gets the same colour, in every figure and file: class 0 (background) is black,
classes 1-20 take Sasha Trubetskoy's 20 distinct colours, and higher classes the Pascal VOC bit-interleaved
palette (skipping colours already used), so up to 256 classes are distinct. Ignored pixels are drawn in
``IGNORE_COLOR``. Colours the user gave (``classes.json``, a Pascal VOC palette PNG) travel with the dataset
spec and the model's ``config.json`` (``class_colors``) and win over these: :func:`palette_for` is the one
place that says which colour a model's class is drawn in. Lives outside ``viz`` so that writers (palette
PNGs) and the server need no plotting code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["IGNORE_COLOR", "MAX_PALETTE_CLASSES", "class_palette", "palette_for"]

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


def palette_for(source: Any, num_classes: int) -> np.ndarray:
    """The colours a model's classes are drawn in: uint8 (num_classes, 3), the given colours where present,
    else :func:`class_palette`'s colour of that index.

    Args:
        source: a model config (its ``class_colors``: a ``ModelConfig``, a dataset spec, anything with that
            attribute; a one-logit model's one colour is class 1's, as its one name is), the colours
            themselves (one [R, G, B] or None per class, or class -> [R, G, B]) or None. Colours of classes
            >= ``num_classes`` are left out (a palette PNG holds 256).
        num_classes: rows of the palette, 1..256.

    Raises:
        ValueError: a colour is not three integers in 0..255, or names a negative class.
    """
    palette = class_palette(num_classes)
    colors = source
    if source is not None and (
        isinstance(source, str) or not isinstance(source, (Mapping, Sequence, np.ndarray))
    ):
        colors = getattr(source, "class_colors", None)
        if colors is not None and len(colors) == 1 and getattr(source, "num_classes", None) == 1:
            colors = [None, colors[0]]  # a one-logit model predicts 0 (background) / 1 (its class)
    if colors is None:
        return palette
    items = colors.items() if isinstance(colors, Mapping) else enumerate(colors)
    for key, value in items:
        index = int(key)
        if index < 0:
            raise ValueError(f"class colours name class {index}; classes are 0, 1, ...")
        if value is not None and index < num_classes:
            palette[index] = _rgb(value, index)
    return palette


def _rgb(value: Any, index: int) -> tuple[int, int, int]:
    """``value`` as (R, G, B) ints in 0..255; else a one-line error naming the class."""
    try:
        rgb = tuple(int(v) for v in value)
        exact = all(float(v) == int(v) for v in value)
    except (TypeError, ValueError):
        rgb, exact = (), False
    if len(rgb) != 3 or not exact or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f"the colour of class {index} must be [R, G, B] with values 0..255, got {value!r}")
    return rgb[0], rgb[1], rgb[2]


#: Where a model records the colour its training masks marked void with (palette masks), kept in
#: ``ModelConfig.extra``: figures draw ignored ground-truth pixels in it, as the user drew them.
VOID_COLOR_KEY = "void_color"


def void_color_for(config: Any) -> tuple[int, int, int] | None:
    """The void colour a model recorded (``extra["void_color"]``), or None (figures then use their own)."""
    extra = getattr(config, "extra", None) or {}
    value = extra.get(VOID_COLOR_KEY)
    if value is None or len(value) != 3:
        return None
    r, g, b = (int(v) for v in value)
    return (r, g, b)
