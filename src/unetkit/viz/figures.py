"""Figures for a run: training curves, the lectures' Input / True mask / Predicted mask grid and the confusion
matrix.

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
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D


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


# The score curves' legend names (the CSV's keys are the logger's).
SCORE_LABELS = {
    "val/miou": "mean IoU",
    "val/mean_dice": "mean Dice",
    "val/pixel_accuracy": "pixel accuracy",
    "val/pixel_error": "pixel error",
}
KEPT_COLOR = "#d95f02"
KEPT_ZORDER = 1.5  # the kept epoch's line: above the grid, below the curves (Line2D's zorder is 2)
# A series of one point (one epoch logged) is a marker alone, this big: as a line it was invisible.
LONE_POINT_SIZE = 7.0


def plot_series(ax: Axes, points: Sequence[tuple[float, float]], label: str) -> Line2D:
    """One curve of (epoch, value) ``points``: a line with small markers, or, for a single point, a larger
    marker without a line, so that both the point and its legend entry (a marker, not a line) show."""
    xs, ys = zip(*points)
    if len(points) == 1:
        (line,) = ax.plot(xs, ys, marker="o", ms=LONE_POINT_SIZE, ls="none", label=label)
    else:
        (line,) = ax.plot(xs, ys, marker="o", ms=3, label=label)
    return line


def plot_training_curves(
    metrics_csv: str | Path,
    out_png: str | Path,
    kept: tuple[str, int] | None = None,
    monitor: str = "val/miou",
    scored: tuple[float, str] | None = None,
    partial: tuple[int, int, int] | None = None,
) -> Path:
    """Loss (train/val) and validation scores per epoch, the epochs numbered as ``metrics_csv`` numbers
    them (Lightning's, from 0: epoch 14 of the figure is the CSV's row of epoch 14).

    ``kept``: (checkpoint name, epoch), the checkpoint that became the model and was scored (``("best",
    13)``): a dashed line at that epoch on both panels, and a ring on its ``monitor`` score.
    ``scored``: (score, how) of the final scoring when it differs from the logged one (test-time
    augmentation: ``(0.7593, "8-view TTA")``): a star at the kept epoch, its legend naming both, so the ring
    (the logged validation score) is not read as the run's score.
    ``partial``: (epoch, steps run, steps per epoch) of a last epoch the time budget stopped within: its
    train loss, the mean of those steps only, is drawn as an open marker its legend names (it was drawn as
    a full epoch's).
    """
    from matplotlib.ticker import MaxNLocator

    series = read_metrics_csv(metrics_csv)
    fig = headless_figure((12, 3.8))
    ax_loss, ax_score = fig.subplots(1, 2)
    for key, label in (("train/loss_epoch", "train loss"), ("val/loss", "val loss")):
        if key in series:
            line = plot_series(ax_loss, series[key], label)
            at = [y for x, y in series[key] if partial is not None and x == partial[0]]
            if key == "train/loss_epoch" and partial is not None and at:
                epoch, steps, of = partial
                ax_loss.plot(
                    [epoch], [at[-1]], "o", ms=LONE_POINT_SIZE, mfc="white", mec=line.get_color(), zorder=3,
                    label=f"train loss of epoch {epoch}: {steps} of {of} steps (the time budget stopped it)",
                )  # fmt: skip
    ax_loss.set(xlabel="epoch (as in logs/metrics.csv)", ylabel="loss", title="Loss")
    for key, label in SCORE_LABELS.items():
        if key in series:
            plot_series(ax_score, series[key], label)
    ax_score.set(
        xlabel="epoch (as in logs/metrics.csv)",
        ylabel="score on the validation images",
        title="Validation",
        ylim=(0, 1),
    )
    if kept is not None:
        name, epoch = kept
        text = f"kept and scored: {name} checkpoint (epoch {epoch})"
        # Under the curves (zorder): drawn over them, it hid their points at the kept epoch.
        ax_loss.axvline(epoch, color=KEPT_COLOR, ls="--", lw=1.2, zorder=KEPT_ZORDER)
        ax_score.axvline(epoch, color=KEPT_COLOR, ls="--", lw=1.2, label=text, zorder=KEPT_ZORDER)
        at = [y for x, y in series.get(monitor, []) if x == epoch]
        if at:
            ax_score.plot([epoch], [at[-1]], "o", ms=11, mfc="none", mec=KEPT_COLOR, mew=1.8)
        if scored is not None:
            value, how = scored
            label = SCORE_LABELS.get(monitor, monitor)
            ax_score.plot(
                [epoch], [value], "*", ms=12, color=KEPT_COLOR,
                label=f"final {label} {value:.4f} ({how}; ring: {label} logged without it)",
            )  # fmt: skip
    epochs = [x for points in series.values() for x, _ in points]
    for ax in (ax_loss, ax_score):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if epochs and max(epochs) - min(epochs) < 1:
            # One epoch: the integer locator still fills a span under 1 with fractional ticks.
            ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
            ax.set_xticks([min(epochs)])
    if ax_loss.get_legend_handles_labels()[0]:
        ax_loss.legend(fontsize=8)
    if ax_score.get_legend_handles_labels()[0]:  # beside the panel: inside, it hid the curves
        ax_score.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return save_figure(fig, Path(out_png))


# The splits' names in words, for figure titles.
SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}


def split_title(split: str) -> str:
    """What a figure of a split's images shows: ``validation images (val split)``."""
    return f"{SPLIT_WORDS.get(split, split)} images ({split} split)"


# A confusion-matrix cell's share is written in it up to this many classes (the diagonal alone above it).
CELL_TEXT_CLASSES = 20
NEVER_COLOR = "#c0392b"


def plot_confusion_matrix(
    confusion: np.ndarray,
    class_names: Sequence[str],
    out_png: str | Path,
    split: str | None = None,
) -> Path:
    """The (C, C) confusion matrix (pixel counts, rows = true class, columns = predicted class, void left
    out) drawn row-normalised: each cell is the share of the true class's pixels predicted as the column's
    class, so the diagonal is each class's recall. Class names on both axes; a class of the truth that is
    never predicted (an empty column) is named in red below the axis; a class absent from the truth (an
    empty row) is grey and marked ``(absent)``. The title names ``split``. Sized for 2 to 30 classes
    (shares written in the cells up to ``CELL_TEXT_CLASSES``, the diagonal's alone above).
    """
    counts = np.asarray(confusion, dtype=np.float64)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(
            f"confusion matrix of shape {counts.shape} for {k} class names; expected ({k}, {k})."
        )
    support = counts.sum(1)
    never = (counts.sum(0) == 0) & (support > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(support[:, None] > 0, counts / np.maximum(support[:, None], 1), np.nan)
    side = min(max(4.2, 0.36 * k + 2.4), 14.0)
    fontsize = 9.0 if k <= 12 else 8.0 if k <= 20 else 7.0 if k <= 30 else 5.5
    fig = headless_figure((side + 1.4, side))
    ax = fig.subplots()
    from matplotlib import colormaps

    cmap = colormaps["Blues"].with_extremes(bad="0.88")
    image = ax.imshow(np.ma.masked_invalid(shares), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    for t in range(k):
        for q in range(k):
            value = shares[t, q]
            if value != value or (k > CELL_TEXT_CLASSES and t != q) or (t != q and value < 0.005):
                continue
            ax.text(
                q,
                t,
                f"{100 * value:.0f}",
                ha="center",
                va="center",
                fontsize=fontsize - 1.5,
                color="white" if value > 0.55 else "black",
            )
    ax.set_xticks(range(k))
    upright = k > 12 or max(len(n) for n in class_names) > 10  # turned 45 degrees, long names overlap
    ax.set_xticklabels(class_names, rotation=90 if upright else 45, ha="center" if upright else "right")
    ax.set_yticks(range(k))
    ax.set_yticklabels([n if s > 0 else f"{n} (absent)" for n, s in zip(class_names, support)])
    ax.tick_params(labelsize=fontsize)
    for label, is_never in zip(ax.get_xticklabels(), never):
        if is_never:
            label.set_color(NEVER_COLOR)
            label.set_fontweight("bold")
    xlabel = "predicted class"
    if never.any():
        xlabel += f"\n(red: never predicted: {int(never.sum())} of {k} classes)"
    ax.set_xlabel(xlabel, fontsize=fontsize + 1)
    ax.set_ylabel("true class", fontsize=fontsize + 1)
    where = f", {SPLIT_WORDS.get(split, split)} images ({split} split)" if split else ""
    ax.set_title(
        f"Confusion matrix{where}\nrow-normalised: % of each true class's pixels (void excluded)",
        fontsize=fontsize + 1.5,
    )
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    from matplotlib.ticker import PercentFormatter

    bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))  # in the cells' unit (%), not 0..1
    bar.set_label("% of the true class's pixels", fontsize=fontsize)
    bar.ax.tick_params(labelsize=fontsize)
    fig.tight_layout()
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
    title: str | None = None,
) -> Path:
    """One row per sample: Input | True mask | Predicted mask (class colours, legend below), under ``title``
    when given (:func:`split_title`: which split's images these are). Ignored pixels
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
        for j, (panel, heading) in enumerate(zip(row, ("Input", "True mask", "Predicted mask"))):
            # nearest: a mask pixel is one colour, never a blend of two classes
            axes[i, j].imshow(panel, cmap="gray" if panel.ndim == 2 else None, interpolation="nearest")
            # A title's lines are shortened one by one: a long file name must not cut its score's line.
            lines = titles[i].split("\n") if titles and j == 0 else []
            label = "\n".join([heading, *(short_name(line) for line in lines)])
            axes[i, j].set_title(label, fontsize=9)
            axes[i, j].axis("off")
    handles = [Rectangle((0, 0), 1, 1, color=np.asarray(palette[k]) / 255.0) for k in range(len(class_names))]
    labels = list(class_names)
    if any((np.asarray(m) == ignore_index).any() for m in (*targets, *preds)):
        # Outlined: the default white would not show on the figure's white background.
        handles.append(Rectangle((0, 0), 1, 1, facecolor=np.asarray(void) / 255.0, edgecolor="0.5"))
        labels.append(IGNORE_LABEL)
    legend_rows = math.ceil(len(labels) / 6)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")  # tight_layout keeps the panels below it
    fig.tight_layout(rect=(0, 0.25 * legend_rows / n / 3, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8)
    return save_figure(fig, Path(out_png))
