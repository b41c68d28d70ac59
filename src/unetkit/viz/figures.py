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


def prediction_grid_panels(
    images: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    preds: Sequence[np.ndarray],
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    palette: np.ndarray | None = None,
) -> list[list[np.ndarray]]:
    """The arrays the grid shows, one row per sample: [input (H, W) gray or (H, W, 3) (other channel counts
    as :func:`unetkit.viz.overlay.display_image` shows them), true mask RGB
    (H, W, 3), predicted mask RGB (H, W, 3)]; ``ignore_index`` pixels of both masks in ``IGNORE_COLOR``.
    ``palette``: uint8 (num_classes, 3), the model's class colours (:func:`unetkit.palette.palette_for`;
    default :func:`~unetkit.palette.class_palette`)."""
    from unetkit.viz.overlay import class_palette, colorize_mask, display_image

    palette = class_palette(num_classes) if palette is None else np.asarray(palette, dtype=np.uint8)
    rows = []
    for img, target, pred in zip(images, targets, preds, strict=True):
        shown = display_image(np.asarray(img))  # 2 or >3 channels (microscopy): a composite
        rows.append(
            [
                shown[..., 0] if shown.shape[-1] == 1 else shown,
                colorize_mask(np.asarray(target), palette, ignore_index=ignore_index),
                colorize_mask(np.asarray(pred), palette, ignore_index=ignore_index),
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
) -> Path:
    """One row per sample: Input | True mask | Predicted mask (class colours, legend below; ignored pixels
    in ``IGNORE_COLOR``). The panels are :func:`prediction_grid_panels`; ``palette`` (uint8 (K, 3)) the
    model's class colours (:func:`unetkit.palette.palette_for`), default ``class_palette``.

    ``images`` are uint8 ``(H, W, C)``; ``targets``/``preds`` are int ``(H, W)``.
    """
    from matplotlib.patches import Rectangle

    from unetkit.viz.overlay import class_palette

    palette = class_palette(len(class_names)) if palette is None else np.asarray(palette, dtype=np.uint8)
    rows = prediction_grid_panels(images, targets, preds, len(class_names), ignore_index, palette)
    n = len(rows)
    fig = headless_figure((9, 3 * n))
    axes = fig.subplots(n, 3, squeeze=False)
    for i, row in enumerate(rows):
        for j, (panel, title) in enumerate(zip(row, ("Input", "True mask", "Predicted mask"))):
            # nearest: a mask pixel is one colour, never a blend of two classes
            axes[i, j].imshow(panel, cmap="gray" if panel.ndim == 2 else None, interpolation="nearest")
            label = f"{title}" + (f"\n{titles[i]}" if titles and j == 0 else "")
            axes[i, j].set_title(label, fontsize=9)
            axes[i, j].axis("off")
    handles = [Rectangle((0, 0), 1, 1, color=np.asarray(palette[k]) / 255.0) for k in range(len(class_names))]
    legend_rows = math.ceil(len(class_names) / 6)
    fig.tight_layout(rect=(0, 0.25 * legend_rows / n / 3, 1, 1))
    fig.legend(handles, list(class_names), loc="lower center", ncol=min(6, len(class_names)), fontsize=8)
    return save_figure(fig, Path(out_png))
