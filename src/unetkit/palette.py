"""Fixed class colours (NumPy only, no torch, no plotting): the one palette of masks, overlays and figures.

The same class always gets the same colour, in every figure and file: class 0 (background) is black,
classes 1-20 take Sasha Trubetskoy's 20 distinct colours, and higher classes the Pascal VOC bit-interleaved
palette (skipping colours already used), so up to 256 classes are distinct. Ignored pixels are drawn in
``IGNORE_COLOR``. A model whose class 0 is a real class (CamVid's sky, a ``classes.json`` naming it) gets a
real colour for it, not black (:func:`class_zero_is_background`). Colours the user gave (``classes.json``, a
Pascal VOC palette PNG) travel with the dataset spec and the model's ``config.json`` (``class_colors``) and
win over these: :func:`palette_for` is the one place that says which colour a model's class is drawn in.
Lives outside ``viz`` so that writers (palette PNGs) and the server need no plotting code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "BACKGROUND_NAMES",
    "IGNORE_COLOR",
    "MAX_PALETTE_CLASSES",
    "class_palette",
    "class_zero_is_background",
    "is_background_name",
    "palette_for",
]

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


def _palette_colors() -> Iterator[tuple[int, int, int]]:
    """The palette's colours in order after black: the 20 distinct ones, then Pascal VOC's (unbounded)."""
    yield from _DISTINCT
    voc = 1
    while True:
        yield _voc_color(voc)
        voc += 1


# Class names that mean "no object". One home for both places that ask: the palette draws such a class 0 in
# black (black reads as "nothing", right for a background and wrong for CamVid's sky), and overlays leave
# such a class untinted (unetkit.viz.overlay.untinted_class). Compared lower-case, stripped.
BACKGROUND_NAMES = frozenset(
    {
        "background", "bg", "_background_", "backdrop", "void", "unlabeled", "unlabelled", "none",
        "other", "clutter", "negative",
    }
)  # fmt: skip

# The names unetkit makes up for classes nobody named (class_0, class_1, ...; a remapped mask's
# class_<value>): such a class 0 has no name of its own.
_GENERIC_NAME = re.compile(r"class_\d+")


def is_background_name(name: object) -> bool:
    """Whether ``name`` means "no object" (:data:`BACKGROUND_NAMES`, any case)."""
    return str(name).strip().lower() in BACKGROUND_NAMES


def class_zero_is_background(class_names: Sequence[str] | None) -> bool:
    """Whether class 0 is drawn as background (black): it has no name (none given, or unetkit's generic
    ``class_0``) or a background's name. False for a real class 0 (CamVid's ``sky``), drawn in a colour."""
    if not class_names:
        return True
    first = str(class_names[0]).strip()
    return is_background_name(first) or _GENERIC_NAME.fullmatch(first) is not None


def class_palette(num_classes: int) -> np.ndarray:
    """Fixed distinct colours: uint8 (num_classes, 3); row 0 (background) is black.

    Raises:
        ValueError: ``num_classes`` outside 1..256 (a palette PNG holds 256 colours).
    """
    if not isinstance(num_classes, (int, np.integer)) or not 1 <= num_classes <= MAX_PALETTE_CLASSES:
        raise ValueError(f"num_classes must be an int in 1..{MAX_PALETTE_CLASSES}, got {num_classes!r}.")
    colors: list[tuple[int, int, int]] = [(0, 0, 0)]
    used = set(colors)
    for c in _palette_colors():
        if len(colors) >= num_classes:
            break
        if c not in used:
            colors.append(c)
            used.add(c)
    return np.asarray(colors, dtype=np.uint8)


def _spare_color(palette: np.ndarray) -> tuple[int, int, int]:
    """The first palette colour no row of ``palette`` has (never black nor ``IGNORE_COLOR``): a real class
    0's colour, distinct from every other class's, the given ones included."""
    used = {(int(r), int(g), int(b)) for r, g, b in palette} | {(0, 0, 0), IGNORE_COLOR}
    return next(c for c in _palette_colors() if c not in used)


def palette_for(source: Any, num_classes: int, class_names: Sequence[str] | None = None) -> np.ndarray:
    """The colours a model's classes are drawn in: uint8 (num_classes, 3), the given colours where present,
    else :func:`class_palette`'s colour of that index; but a class 0 that is a real class (named, and not a
    background: :func:`class_zero_is_background`) and has no given colour gets a colour of its own, no
    other class's, instead of the background's black.

    Args:
        source: a model config (its ``class_colors`` and ``class_names``: a ``ModelConfig``, a dataset spec,
            anything with those attributes; a one-logit model's one colour and name are class 1's, its class
            0 is the background), the colours themselves (one [R, G, B] or None per class, or class ->
            [R, G, B]) or None. Colours of classes >= ``num_classes`` are left out (a palette PNG holds 256).
        num_classes: rows of the palette, 1..256.
        class_names: the classes' names, when ``source`` is not a config (a config's own names win).

    Raises:
        ValueError: a colour is not three integers in 0..255, or names a negative class.
    """
    palette = class_palette(num_classes)
    colors = source
    names = class_names
    if source is not None and (
        isinstance(source, str) or not isinstance(source, (Mapping, Sequence, np.ndarray))
    ):
        colors = getattr(source, "class_colors", None)
        names = getattr(source, "class_names", None) or class_names
        if getattr(source, "num_classes", None) == 1:
            # A one-logit model predicts 0 (background) / 1 (its class): its one colour and name are class
            # 1's.
            names = None
            if colors is not None and len(colors) == 1:
                colors = [None, colors[0]]
    given_zero = False
    items = () if colors is None else colors.items() if isinstance(colors, Mapping) else enumerate(colors)
    for key, value in items:
        index = int(key)
        if index < 0:
            raise ValueError(f"class colours name class {index}; classes are 0, 1, ...")
        if value is not None and index < num_classes:
            palette[index] = _rgb(value, index)
            given_zero = given_zero or index == 0
    if not given_zero and not class_zero_is_background(names):
        palette[0] = _spare_color(palette)
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
