"""Colourised masks and colour overlays on the input image (NumPy only, no torch).

Colours come from :func:`unetkit.palette.palette_for` (the model's, else :func:`class_palette`'s fixed
colour per class, re-exported here).
:func:`prediction_overlay` is the one drawing of a prediction's overlay: ``unetkit predict`` writes it and
``unetkit serve`` shows (and re-blends) it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from unetkit.constants import IGNORE_INDEX, OVERLAY_ALPHA

# The palette lives in the torch-free, plotting-free unetkit.palette; re-exported here where it always was.
from unetkit.palette import (
    BACKGROUND_NAMES,
    IGNORE_COLOR,
    MAX_PALETTE_CLASSES,
    class_palette,
    class_zero_is_background,
    is_background_name,
)

__all__ = [
    "BACKGROUND_NAMES",
    "IGNORE_COLOR",
    "MAX_PALETTE_CLASSES",
    "class_palette",
    "colorize_mask",
    "display_image",
    "overlay",
    "prediction_overlay",
]


def colorize_mask(
    mask: np.ndarray,
    palette: np.ndarray,
    ignore_index: int | None = IGNORE_INDEX,
    ignore_color: tuple[int, int, int] = IGNORE_COLOR,
) -> np.ndarray:
    """Class mask (H, W) -> RGB uint8 (H, W, 3) with ``palette[class]``; ``ignore_index`` pixels get
    ``ignore_color``.

    Raises:
        ValueError: a mask value has no palette entry (and is not ``ignore_index``).
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}.")
    palette = np.asarray(palette, dtype=np.uint8)
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise ValueError(f"palette must be (K, 3), got shape {palette.shape}.")
    table = np.zeros((max(palette.shape[0], (ignore_index or 0) + 1), 3), dtype=np.uint8)
    table[: palette.shape[0]] = palette
    if ignore_index is not None:
        table[ignore_index] = ignore_color
    if mask.size:
        lo, hi = int(mask.min()), int(mask.max())
        bad = lo < 0 or hi >= table.shape[0]
        if not bad and hi >= palette.shape[0]:
            outside = mask >= palette.shape[0]
            if ignore_index is not None:
                outside &= mask != ignore_index
            bad = bool(outside.any())
        if bad:
            raise ValueError(
                f"mask values {lo}..{hi} exceed the palette of {palette.shape[0]} classes "
                f"(ignore_index={ignore_index}); pass class_palette(num_classes) with enough classes."
            )
    return table[mask]


def display_image(image: np.ndarray) -> np.ndarray:
    """An image as people look at it: uint8 (H, W, 1) gray or (H, W, 3) RGB.

    Gray and RGB stay as they are. Other channel counts are microscopy or multispectral data with no colours
    of their own: two channels become the usual fluorescence composite (the first green, the second
    magenta, so that overlap reads white and colour-blind readers tell them apart); four or more show their
    first three as RGB.
    """
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] < 1:
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}.")
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8, got {image.dtype}.")
    if image.shape[2] == 2:
        first, second = image[..., 0], image[..., 1]
        return np.stack([second, first, second], axis=2)
    if image.shape[2] > 3:
        return np.ascontiguousarray(image[..., :3])
    return image


# Pixels blended at a time by overlay (each holds a few float32 values of temporaries).
OVERLAY_BAND_PIXELS = 1 << 18


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    palette: np.ndarray,
    alpha: float = OVERLAY_ALPHA,
    background: int | None = 0,
    rows_per_chunk: int | None = None,
) -> np.ndarray:
    """Blend class colours over the image: ``(1 - alpha) * image + alpha * palette[mask]``.

    Args:
        image: uint8 (H, W) or (H, W, C); gray is shown as gray RGB, other channel counts as
            :func:`display_image` shows them.
        mask: (H, W) class indices.
        palette: uint8 (K, 3), e.g. :func:`class_palette`.
        alpha: colour weight in [0, 1].
        background: class left untinted (None tints every class); the default 0 is right only for an
            unnamed or background class 0: callers that know the class names pass :func:`untinted_class`.
        rows_per_chunk: rows blended at a time; None: about ``OVERLAY_BAND_PIXELS`` pixels' worth (bounds
            the float32 temporaries: 1024 rows of an 8000 px wide scene held about 600 MB of them).

    Returns:
        uint8 RGB (H, W, 3).
    """
    display_image(image[:1])  # refuses a bad shape or type before any work
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {image.shape[:2]}.")
    check_alpha(alpha)
    h, w = mask.shape
    if rows_per_chunk is None:
        rows_per_chunk = max(1, OVERLAY_BAND_PIXELS // max(w, 1))
    out = np.empty((h, w, 3), dtype=np.uint8)
    for r in range(0, h, rows_per_chunk):
        # display_image per band too: a 4-band scene's RGB copy would be a whole-image array.
        img = display_image(image[r : r + rows_per_chunk]).astype(np.float32)
        m = mask[r : r + rows_per_chunk]
        color = colorize_mask(m, palette).astype(np.float32)
        blended = img * (1.0 - alpha) + color * alpha  # (rows, W, 3); gray broadcasts over RGB
        if background is not None:
            keep = (m == background)[..., None]
            blended = np.where(keep, np.broadcast_to(img, blended.shape), blended)
        out[r : r + rows_per_chunk] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out


def untinted_class(class_names: Sequence[str]) -> int | None:
    """The class an overlay leaves untinted: the first named like a background
    (:data:`unetkit.palette.BACKGROUND_NAMES`, wherever it sits); else class 0 when the palette draws it as
    the background (black: unnamed, :func:`unetkit.palette.class_zero_is_background`; a black tint would only
    darken the image); else class 0 of a two-class model (ISBI's membrane/cell: tinting both would hide the
    image; its masks still draw membrane in its colour); else none. Street scenes' sky is a class of its own,
    tinted in the colour the palette gives it."""
    for index, name in enumerate(class_names):
        if is_background_name(name):
            return index
    if class_zero_is_background(class_names) or len(class_names) <= 2:
        return 0
    return None


def default_palette(mask: np.ndarray) -> np.ndarray:
    """:func:`class_palette` with a row for every class in ``mask`` (at least two; ``IGNORE_INDEX`` pixels
    take ``IGNORE_COLOR``): the colours of an overlay given none, as ``unetkit predict`` draws a model that
    records no colours of its own (a notebook user should not need to know the palette exists)."""
    mask = np.asarray(mask)
    classes = mask[mask != IGNORE_INDEX] if mask.size else mask
    top = int(classes.max()) if classes.size else 0
    # Capped at the palette's 256 rows: a larger value is then refused by colorize_mask, which names it.
    return class_palette(min(max(top + 1, 2), MAX_PALETTE_CLASSES))


def check_alpha(alpha: float) -> float:
    """``alpha`` (the class tint's opacity) as a float, refused outside [0, 1]: the one rule of the overlay
    and of predict's options, checked before any image is run."""
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    return float(alpha)


def prediction_overlay(
    image: np.ndarray,
    mask: np.ndarray,
    palette: np.ndarray | None = None,
    alpha: float = OVERLAY_ALPHA,
    labels: np.ndarray | None = None,
    background: int | None = 0,
) -> np.ndarray:
    """A prediction's overlay, as ``unetkit predict`` writes it (``overlays/``) and ``unetkit serve`` shows it
    (``overlay.png``): the class colours over the image (:func:`overlay`; ``background``, from
    :func:`untinted_class`, untinted), and, when the
    prediction has instances, every instance outlined in its own colour
    (:func:`unetkit.viz.instances.draw_instance_outlines`), so that splits and merges show.

    Args:
        image: uint8 (H, W) or (H, W, C), as :func:`overlay` takes it, or a float one in [0, 1] as
            ``predict`` takes it (drawn as its 8-bit reading ``round(x * 255)``,
            :func:`~unetkit.data.io.float_to_uint8`). A channels-first (C, H, W) image is refused naming
            the fix, as ``predict`` refuses it.
        mask: (H, W) class indices.
        palette: uint8 (K, 3) class colours; None: :func:`class_palette`'s fixed colours for the classes in
            ``mask`` (a model's own colours: ``unetkit.palette.palette_for(predictor.config, K)``).
        alpha: colour weight in [0, 1].
        labels: (H, W) instance ids (0 = background), or None for a prediction without instances.
        background: the class left untinted (None tints every class).

    Returns:
        uint8 RGB (H, W, 3).
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim == 3 and image.shape[0] <= 4 < image.shape[2] and image.shape[1:] == mask.shape:
        raise ValueError(
            f"image has shape {image.shape}, channels first; prediction_overlay takes (H, W, C) as predict "
            "does: pass np.moveaxis(image, 0, -1)."
        )
    if image.dtype.kind == "f":  # as predict reads a float image: its 8-bit reading (NaN, > 1: refused)
        from unetkit.data.io import float_to_uint8

        image = float_to_uint8(image, f"the {image.dtype} image array")
    if palette is None:
        palette = default_palette(mask)
    rgb = overlay(image, mask, palette, alpha, background=background)
    if labels is None:
        return rgb
    # Imported here: unetkit.viz.instances imports this module (display_image) and needs scikit-image.
    from unetkit.viz.instances import draw_instance_outlines

    return draw_instance_outlines(rgb, labels)
