"""Figures for a run: training curves and the lectures' Input / True mask / Predicted mask grid.

Drawn with matplotlib's object API (``Figure`` + ``FigureCanvasAgg``), never ``pyplot``: no global
backend is chosen and no figure registry is touched, so a library call cannot change the state of the
program that uses it (a notebook keeps its inline backend, a GUI its own).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unetkit.constants import IGNORE_INDEX
from unetkit.files import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure


# Characters of a sample name under a 3-inch panel at font size 9: a longer one (DSB 2018's 64-character
# ids) ran across the next panel's title.
TITLE_CHARS = 32


def short_name(name: str, limit: int = TITLE_CHARS) -> str:
    """``name`` as a panel title: the start and the end of a longer one around an ellipsis (a sample's
    distinguishing part can be either end: ``sequence_frame`` vs ``hash``)."""
    if len(name) <= limit:
        return name
    head = (limit - 1) // 2
    return f"{name[:head]}…{name[len(name) - (limit - 1 - head) :]}"


def headless_figure(figsize: tuple[float, float]) -> Figure:
    """A headless figure with its own Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG; a temp name + rename: an interrupted run never leaves a truncated
    PNG."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    return Path(path)


def read_metrics_csv(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """Lightning CSVLogger file -> ``{metric: [(epoch, value), ...]}`` (empty cells skipped)."""
    series: dict[str, list[tuple[float, float]]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            epoch = row.get("epoch") or ""
            if epoch == "":
                continue
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None):
                    continue
                series.setdefault(key, []).append((float(epoch), float(value)))
    return series


def plot_training_curves(metrics_csv: str | Path, out_png: str | Path) -> Path:
    """Loss (train/val) and validation scores per epoch."""
    series = read_metrics_csv(metrics_csv)
    fig = headless_figure((10, 3.8))
    ax_loss, ax_score = fig.subplots(1, 2)
    for key, label in (("train/loss_epoch", "train loss"), ("val/loss", "val loss")):
        if key in series:
            xs, ys = zip(*series[key])
            ax_loss.plot(np.asarray(xs) + 1, ys, marker="o", ms=3, label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_loss.legend()
    for key in ("val/miou", "val/mean_dice", "val/pixel_accuracy", "val/pixel_error"):
        if key in series:
            xs, ys = zip(*series[key])
            ax_score.plot(np.asarray(xs) + 1, ys, marker="o", ms=3, label=key.split("/")[1])
    ax_score.set(xlabel="epoch", title="Validation", ylim=(0, 1))
    ax_score.legend()
    for ax in (ax_loss, ax_score):
        ax.grid(alpha=0.3)
    return save_figure(fig, Path(out_png))


# The legend entry of ignored pixels (IGNORE_INDEX: void, unlabeled, borders), shown when a figure has any.
IGNORE_LABEL = "void / ignored"


def prediction_grid_panels(
    images: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    preds: Sequence[np.ndarray],
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    palette: np.ndarray | None = None,
    ignore_color: tuple[int, int, int] | None = None,
) -> list[list[np.ndarray]]:
    """The arrays the grid shows, one row per sample: [input (H, W) gray or (H, W, 3) (other channel counts
    as :func:`unetkit.viz.overlay.display_image` shows them), true mask RGB
    (H, W, 3), predicted mask RGB (H, W, 3)]; ``ignore_index`` pixels of both masks in ``ignore_color``
    (default ``IGNORE_COLOR``, white).
    ``palette``: uint8 (num_classes, 3), the model's class colours (:func:`unetkit.palette.palette_for`;
    default :func:`~unetkit.palette.class_palette`)."""
    from unetkit.viz.overlay import IGNORE_COLOR, class_palette, colorize_mask, display_image

    palette = class_palette(num_classes) if palette is None else np.asarray(palette, dtype=np.uint8)
    void = IGNORE_COLOR if ignore_color is None else ignore_color
    rows = []
    for img, target, pred in zip(images, targets, preds, strict=True):
        shown = display_image(np.asarray(img))  # 2 or >3 channels (microscopy): a composite
        rows.append(
            [
                shown[..., 0] if shown.shape[-1] == 1 else shown,
                colorize_mask(np.asarray(target), palette, ignore_index=ignore_index, ignore_color=void),
                colorize_mask(np.asarray(pred), palette, ignore_index=ignore_index, ignore_color=void),
            ]
        )
    return rows


def plot_prediction_grid(
    images: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    preds: Sequence[np.ndarray],
    class_names: Sequence[str],
    out_png: str | Path,
    titles: Sequence[str] | None = None,
    ignore_index: int = IGNORE_INDEX,
    palette: np.ndarray | None = None,
    ignore_color: tuple[int, int, int] | None = None,
) -> Path:
    """One row per sample: Input | True mask | Predicted mask (class colours, legend below). Ignored pixels
    (``ignore_index``) are drawn in ``ignore_color`` (default ``IGNORE_COLOR``, white), and when a mask of the
    figure has any, the legend ends with a ``void / ignored`` entry in that colour. The panels are
    :func:`prediction_grid_panels`; ``palette`` (uint8 (K, 3)) the model's class colours
    (:func:`unetkit.palette.palette_for`), default ``class_palette``.

    ``images`` are uint8 ``(H, W, C)``; ``targets``/``preds`` are int ``(H, W)``.
    """
    from matplotlib.patches import Rectangle

    from unetkit.viz.overlay import IGNORE_COLOR, class_palette

    palette = class_palette(len(class_names)) if palette is None else np.asarray(palette, dtype=np.uint8)
    void = IGNORE_COLOR if ignore_color is None else ignore_color
    rows = prediction_grid_panels(images, targets, preds, len(class_names), ignore_index, palette, void)
    n = len(rows)
    fig = headless_figure((9, 3 * n))
    axes = fig.subplots(n, 3, squeeze=False)
    for i, row in enumerate(rows):
        for j, (panel, title) in enumerate(zip(row, ("Input", "True mask", "Predicted mask"))):
            # nearest: a mask pixel is one colour, never a blend of two classes
            axes[i, j].imshow(panel, cmap="gray" if panel.ndim == 2 else None, interpolation="nearest")
            label = f"{title}" + (f"\n{short_name(titles[i])}" if titles and j == 0 else "")
            axes[i, j].set_title(label, fontsize=9)
            axes[i, j].axis("off")
    handles = [Rectangle((0, 0), 1, 1, color=np.asarray(palette[k]) / 255.0) for k in range(len(class_names))]
    labels = list(class_names)
    if any((np.asarray(m) == ignore_index).any() for m in (*targets, *preds)):
        # Outlined: the default white would not show on the figure's white background.
        handles.append(Rectangle((0, 0), 1, 1, facecolor=np.asarray(void) / 255.0, edgecolor="0.5"))
        labels.append(IGNORE_LABEL)
    legend_rows = math.ceil(len(labels) / 6)
    fig.tight_layout(rect=(0, 0.25 * legend_rows / n / 3, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8)
    return save_figure(fig, Path(out_png))
