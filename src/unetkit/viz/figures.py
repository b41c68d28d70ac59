"""Figures for a run: training curves and the lectures' Input / True mask / Predicted mask grid."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # headless: never needs a display
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:  # type: ignore[no-untyped-def]
    # Write to a temp name and rename: an interrupted run never leaves a truncated PNG.
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    return path


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
    plt = _pyplot()
    series = read_metrics_csv(metrics_csv)
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.8))
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
    path = _save(fig, Path(out_png))
    plt.close(fig)
    return path


def plot_prediction_grid(
    images: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    preds: Sequence[np.ndarray],
    class_names: Sequence[str],
    out_png: str | Path,
    titles: Sequence[str] | None = None,
    ignore_index: int = 255,
) -> Path:
    """One row per sample: Input | True mask | Predicted mask (class colours, legend below).

    ``images`` are uint8 ``(H, W, C)``; ``targets``/``preds`` are int ``(H, W)``.
    """
    from unetkit.viz.overlay import class_palette, colorize_mask

    plt = _pyplot()
    palette = class_palette(len(class_names))
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n), squeeze=False)
    for i in range(n):
        img = images[i]
        img = img[..., 0] if img.shape[-1] == 1 else img
        panels = [
            (img, "Input"),
            (colorize_mask(targets[i], palette, ignore_index=ignore_index), "True mask"),
            (colorize_mask(preds[i], palette), "Predicted mask"),
        ]
        for j, (panel, title) in enumerate(panels):
            axes[i, j].imshow(panel, cmap="gray" if panel.ndim == 2 else None)
            label = f"{title}" + (f"\n{titles[i]}" if titles and j == 0 else "")
            axes[i, j].set_title(label, fontsize=9)
            axes[i, j].axis("off")
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=np.asarray(palette[k]) / 255.0) for k in range(len(class_names))
    ]
    legend_rows = math.ceil(len(class_names) / 6)
    fig.tight_layout(rect=(0, 0.25 * legend_rows / n / 3, 1, 1))
    fig.legend(handles, list(class_names), loc="lower center", ncol=min(6, len(class_names)), fontsize=8)
    path = _save(fig, Path(out_png))
    plt.close(fig)
    return path
