"""Instance figures: object outlines in distinct colours over the image, and one image segmented by several
methods side by side.

Outlines come from :func:`skimage.segmentation.find_boundaries`; figures are drawn through matplotlib's
object API (:mod:`unetkit.viz.figures`: no pyplot, no global backend) and written atomically.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unetkit.viz.figures import TITLE_CHARS, headless_figure, save_figure
from unetkit.viz.overlay import display_image

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["draw_instance_outlines", "instance_colors", "plot_instance_comparison", "plot_instance_outlines"]

_GOLDEN = 0.6180339887498949


def instance_colors(count: int) -> np.ndarray:
    """uint8 (count + 1, 3): a colour per object id 1..count (row 0, background, is black).

    Hues step by the golden ratio, so consecutive ids (and objects numbered near each other, which
    :func:`scipy.ndimage.label` makes of neighbours) get far-apart hues; brightness alternates in three
    levels to tell apart the hues that come back close after many steps.
    """
    from matplotlib.colors import hsv_to_rgb

    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}.")
    k = np.arange(1, count + 1, dtype=np.float64)
    hsv = np.stack([(k * _GOLDEN) % 1.0, np.full_like(k, 0.9), 1.0 - 0.2 * (k % 3)], axis=-1)
    out = np.zeros((count + 1, 3), dtype=np.uint8)
    out[1:] = np.rint(hsv_to_rgb(hsv) * 255).astype(np.uint8)
    return out


def draw_instance_outlines(
    image: np.ndarray, labels: np.ndarray, colors: np.ndarray | None = None, mode: str = "inner"
) -> np.ndarray:
    """The image (uint8 (H, W), (H, W, 1) or (H, W, 3)) as RGB uint8 (H, W, 3) with every object's outline
    drawn in its colour.

    Args:
        labels: (H, W) object ids, 0 = background.
        colors: uint8 (max_id + 1, 3) colour per id (default :func:`instance_colors`).
        mode: :func:`skimage.segmentation.find_boundaries` mode; "inner" draws on the object's own edge
            pixels, so touching objects show both outlines side by side.
    """
    from skimage.segmentation import find_boundaries

    rgb = display_image(image)
    if labels.ndim != 2 or labels.shape != rgb.shape[:2]:
        raise ValueError(f"labels must be (H, W) = {rgb.shape[:2]}, got shape {labels.shape}.")
    if labels.dtype.kind not in "ui" or (labels.size and int(labels.min()) < 0):
        raise ValueError(f"labels must be non-negative integers, got dtype {labels.dtype}.")
    out = np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb.copy()
    top = int(labels.max()) if labels.size else 0
    table = instance_colors(top) if colors is None else np.asarray(colors, dtype=np.uint8)
    if table.ndim != 2 or table.shape[1] != 3 or table.shape[0] <= top:
        raise ValueError(
            f"colors must be (n, 3) with n > {top} (the largest label), got shape {table.shape}."
        )
    edge = find_boundaries(labels, mode=mode) & (labels > 0)
    out[edge] = table[labels[edge]]
    return out


def _panel(ax: Axes, picture: np.ndarray, title: str, inches: float) -> None:
    """``picture`` under ``title``, wrapped to the panel's width (``inches``): a long method name ran across
    the next panel's title."""
    if picture.ndim == 3 and picture.shape[2] == 1:
        picture = picture[..., 0]
    cmap = "gray" if picture.ndim == 2 else None
    ax.imshow(picture, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
    ax.set_title(textwrap.fill(title, max(12, int(TITLE_CHARS * inches / 3.0))), fontsize=9)
    ax.set_axis_off()


def _objects(labels: np.ndarray) -> str:
    n = int(np.count_nonzero(np.unique(labels)))
    return f"{n} object" + ("" if n == 1 else "s")


def plot_instance_outlines(
    image: np.ndarray, labels: np.ndarray, out_png: str | Path, title: str | None = None
) -> Path:
    """One panel: the image with the outlines of ``labels`` (title: ``title`` and the object count)."""
    h, w = labels.shape[:2]
    size = 6.0
    fig = headless_figure((size, size * h / max(w, 1) + 0.4))
    ax = fig.subplots(1, 1)
    _panel(
        ax, draw_instance_outlines(image, labels), f"{title + ': ' if title else ''}{_objects(labels)}", size
    )
    return save_figure(fig, Path(out_png))


def plot_instance_comparison(
    image: np.ndarray,
    panels: Sequence[tuple[str, np.ndarray]],
    out_png: str | Path,
    ncols: int | None = None,
    show_image: bool = True,
) -> Path:
    """The same image segmented by several methods: one panel per ``(title, labels)`` (outlines over the
    image, the object count in the title), after the plain image when ``show_image``.

    Args:
        image: uint8 (H, W), (H, W, 1) or (H, W, 3).
        panels: ``[(title, labels (H, W)), ...]``, e.g. ``[("truth", true), ("components", pred), ...]``.
        ncols: panels per row (default: all in one row up to 4).
    """
    if not panels:
        raise ValueError("panels is empty; pass at least one (title, labels) pair.")
    pictures = [(f"image ({image.shape[1]}x{image.shape[0]})", display_image(image))] if show_image else []
    for title, labels in panels:
        pictures.append((f"{title}: {_objects(labels)}", draw_instance_outlines(image, labels)))
    n = len(pictures)
    cols = min(n, 4) if ncols is None else max(1, int(ncols))
    rows = -(-n // cols)
    h, w = image.shape[:2]
    size = 3.6
    fig = headless_figure((size * cols, (size * h / max(w, 1) + 0.35) * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (title, picture) in zip(axes, pictures):
        _panel(ax, picture, title, size)
    for ax in axes[n:]:
        ax.set_axis_off()
    return save_figure(fig, Path(out_png))
