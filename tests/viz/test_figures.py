"""Run figures: the prediction grid (with ignored pixels) and the training curves."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from PIL import Image

from unetkit.constants import IGNORE_INDEX
from unetkit.viz import figures
from unetkit.viz.figures import (
    NEVER_COLOR,
    plot_confusion_matrix,
    plot_prediction_grid,
    plot_training_curves,
    prediction_grid_panels,
    read_metrics_csv,
)
from unetkit.viz.overlay import IGNORE_COLOR, class_palette


def _grid_inputs() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (24, 32, 3), dtype=np.uint8) for _ in range(2)]
    targets = [rng.integers(0, 3, (24, 32)) for _ in range(2)]
    targets[0][:4] = IGNORE_INDEX  # void / ignore pixels (CamVid's class 11 after mapping)
    preds = [rng.integers(0, 3, (24, 32)) for _ in range(2)]
    return images, targets, preds


def test_prediction_grid_draws_ignored_pixels_in_the_ignore_colour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images, targets, preds = _grid_inputs()
    drawn: list[Figure] = []
    save = figures.save_figure
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: (drawn.append(fig), save(fig, path))[1])
    out = plot_prediction_grid(
        images, targets, preds, ["a", "b", "c"], tmp_path / "grid.png", titles=["x", "y"]
    )
    with Image.open(out) as png:
        assert png.size[0] > 300 and png.size[1] > 300
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temp file left behind
    # What is drawn in the "True mask" panel of row 0: the ignore colour exactly where the target is
    # IGNORE_INDEX, the class colours everywhere else.
    (fig,) = drawn
    true_mask = np.asarray(fig.axes[1].images[0].get_array())
    palette = class_palette(3)
    ignored = targets[0] == IGNORE_INDEX
    assert (true_mask[ignored] == IGNORE_COLOR).all()
    assert (true_mask[~ignored] == palette[targets[0][~ignored]]).all()
    assert not (true_mask[~ignored] == IGNORE_COLOR).all(axis=-1).any()
    pred_mask = np.asarray(fig.axes[2].images[0].get_array())
    assert (pred_mask == palette[preds[0]]).all()


def test_prediction_grid_draws_masks_and_legend_in_the_models_class_colours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images, targets, preds = _grid_inputs()
    drawn: list[Figure] = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: (drawn.append(fig), path)[1])
    colours = np.array([[1, 2, 3], [128, 64, 128], [250, 170, 30]], dtype=np.uint8)
    plot_prediction_grid(images, targets, preds, ["a", "road", "c"], tmp_path / "g.png", palette=colours)
    (fig,) = drawn
    assert (np.asarray(fig.axes[2].images[0].get_array()) == colours[preds[0]]).all()
    legend = [tuple(round(v * 255) for v in h.get_facecolor()[:3]) for h in fig.legends[0].legend_handles]
    assert legend == [*(tuple(c) for c in colours.tolist()), IGNORE_COLOR]  # the targets hold void pixels


def _legend(fig: Figure) -> list[tuple[str, tuple[int, ...]]]:
    """(label, RGB) of each legend entry."""
    (legend,) = fig.legends
    colours = [tuple(round(v * 255) for v in h.get_facecolor()[:3]) for h in legend.legend_handles]
    return list(zip([t.get_text() for t in legend.get_texts()], colours, strict=True))


@pytest.mark.parametrize("ignore_color", [None, (0, 0, 0)])
def test_prediction_grid_legend_explains_the_colour_of_ignored_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ignore_color: tuple[int, int, int] | None
) -> None:
    """Void pixels were drawn white with no legend entry (a user whose void was black could not tell what
    white meant): the legend names them, in the colour the masks show them in."""
    images, targets, preds = _grid_inputs()
    drawn: list[Figure] = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: (drawn.append(fig), path)[1])
    plot_prediction_grid(
        images, targets, preds, ["a", "b", "c"], tmp_path / "g.png", ignore_color=ignore_color
    )
    (fig,) = drawn
    void = IGNORE_COLOR if ignore_color is None else ignore_color
    true_mask = np.asarray(fig.axes[1].images[0].get_array())
    assert (true_mask[targets[0] == IGNORE_INDEX] == void).all()
    palette = [tuple(c) for c in class_palette(3).tolist()]
    assert _legend(fig) == [*zip(["a", "b", "c"], palette, strict=True), (figures.IGNORE_LABEL, void)]
    assert figures.IGNORE_LABEL == "void / ignored"


def test_prediction_grid_without_ignored_pixels_has_the_class_legend_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dataset without void keeps its figure: no void entry when no mask of the figure has one."""
    images, targets, preds = _grid_inputs()
    targets[0][:4] = 0
    drawn: list[Figure] = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: (drawn.append(fig), path)[1])
    plot_prediction_grid(images, targets, preds, ["a", "b", "c"], tmp_path / "g.png")
    (fig,) = drawn
    palette = [tuple(c) for c in class_palette(3).tolist()]
    assert _legend(fig) == list(zip(["a", "b", "c"], palette, strict=True))


def test_prediction_grid_panels_colour_ignored_pixels() -> None:
    images, targets, preds = _grid_inputs()
    rows = prediction_grid_panels(images, targets, preds, 3)
    assert len(rows) == 2 and rows[0][0].shape == (24, 32, 3)
    ignored = targets[0] == IGNORE_INDEX
    assert (rows[0][1][ignored] == IGNORE_COLOR).all()
    assert (rows[0][1][~ignored] == class_palette(3)[targets[0][~ignored]]).all()
    # another ignore index: 255 is then an unknown class and must be refused, not drawn
    with pytest.raises(ValueError, match="exceed the palette"):
        prediction_grid_panels(images, targets, preds, 3, ignore_index=254)

    # The model's class colours, when given, draw both masks.
    colours = np.array([[1, 2, 3], [128, 64, 128], [250, 170, 30]], dtype=np.uint8)
    rows = prediction_grid_panels(images, targets, preds, 3, palette=colours)
    assert (rows[0][1][~ignored] == colours[targets[0][~ignored]]).all()
    assert (rows[0][2] == colours[preds[0]]).all()
    # The colour of ignored pixels, when given (the user's void colour).
    rows = prediction_grid_panels(images, targets, preds, 3, ignore_color=(0, 0, 0))
    assert (rows[0][1][ignored] == 0).all()


def test_training_curves_from_lightning_csv(tmp_path: Path) -> None:
    csv = tmp_path / "metrics.csv"
    csv.write_text(
        "epoch,step,train/loss_epoch,val/loss,val/miou\n0,7,1.5,,\n0,7,,1.4,0.3\n1,15,1.2,,\n1,15,,1.1,0.5\n"
    )
    series = read_metrics_csv(csv)
    assert series["val/miou"] == [(0.0, 0.3), (1.0, 0.5)]
    assert series["train/loss_epoch"] == [(0.0, 1.5), (1.0, 1.2)]
    png = plot_training_curves(csv, tmp_path / "curves.png")
    with Image.open(png) as img:
        assert img.size[0] > 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "metrics.csv"]


def test_figures_leave_the_matplotlib_backend_alone(tmp_path: Path) -> None:
    """Library code must not choose a global backend (the CLI or the user's notebook owns it)."""
    import subprocess
    import sys

    code = (
        "import matplotlib, numpy as np, pathlib;"
        "matplotlib.use('svg');"
        "from unetkit.viz.figures import plot_prediction_grid;"
        f"d = pathlib.Path({str(tmp_path)!r});"
        "m = np.zeros((8, 8), int);"
        "plot_prediction_grid([np.zeros((8, 8, 1), np.uint8)], [m], [m], ['a', 'b'], d / 'g.png');"
        "print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"


def test_a_long_sample_name_stays_within_its_panel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DSB 2018's 64-character ids ran across the next panel's title: a long name keeps both ends."""

    name = "0a7d30b252359a10fd298b638b90cb9ada3acced4e0c0e5a3692013f432ee4e9"
    assert figures.short_name("p03_slice12") == "p03_slice12"
    short = figures.short_name(name)
    assert len(short) == figures.TITLE_CHARS and short.startswith(name[:15]) and short.endswith(name[-16:])
    images, targets, preds = _grid_inputs()
    drawn: list[Figure] = []
    save = figures.save_figure
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: (drawn.append(fig), save(fig, path))[1])
    titles = [f"{name}\nmIoU 0.7803", "y"]  # an evaluation's title: the score on a line of its own
    plot_prediction_grid(images, targets, preds, ["a", "b", "c"], tmp_path / "g.png", titles=titles)
    (fig,) = drawn
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    title = fig.axes[0].title
    assert title.get_text() == f"Input\n{short}\nmIoU 0.7803"  # the long name shortened, not its score
    # The title stays on the figure and ends before the next panel begins.
    extent = title.get_window_extent(renderer)
    assert extent.x0 >= 0 and extent.x1 <= fig.axes[1].get_window_extent(renderer).x0


def _drawn(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures the module's save_figure is given (drawn and written as usual)."""
    drawn: list[Figure] = []
    save = figures.save_figure

    def keep(fig: Figure, path: Path) -> Path:
        drawn.append(fig)
        return save(fig, path)

    monkeypatch.setattr(figures, "save_figure", keep)
    return drawn


def _csv(epochs: int) -> str:
    """A Lightning CSVLogger file of ``epochs`` epochs (numbered from 0), train and val rows apart."""
    return "epoch,step,train/loss_epoch,val/loss,val/miou,val/mean_dice\n" + "".join(
        f"{e},{e * 4 + 3},{2 - e / 10},,,\n{e},{e * 4 + 3},,{2.1 - e / 10},{0.1 + e / 40},{0.2 + e / 40}\n"
        for e in range(epochs)
    )


CSV_16 = _csv(16)


def test_training_curves_number_epochs_as_the_csv_and_mark_the_kept_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "metrics.csv"
    csv.write_text(CSV_16)
    drawn = _drawn(monkeypatch)
    plot_training_curves(csv, tmp_path / "curves.png", kept=("best", 13))
    (fig,) = drawn
    ax_loss, ax_score = fig.axes[:2]
    fig.canvas.draw()
    for ax in (ax_loss, ax_score):
        curve = ax.get_lines()[0]
        assert list(np.asarray(curve.get_xdata())) == list(range(16))  # epoch 14 is the CSV's row of epoch 14
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
        assert "logs/metrics.csv" in ax.get_xlabel()
    assert ax_score.get_ylabel()  # the scores' axis says what it shows
    labels = ax_score.get_legend_handles_labels()[1]
    assert labels[:2] == ["mean IoU", "mean Dice"]
    assert "kept and scored: best checkpoint (epoch 13)" in labels
    # A dashed line at epoch 13 on both panels, and a ring on the monitored score of that epoch.
    for ax in (ax_loss, ax_score):
        assert [
            np.asarray(line.get_xdata())[0] for line in ax.get_lines() if line.get_linestyle() == "--"
        ] == [13]
    (ring,) = [
        line for line in ax_score.get_lines() if line.get_marker() == "o" and np.size(line.get_xdata()) == 1
    ]
    assert np.asarray(ring.get_xdata())[0] == 13
    assert np.asarray(ring.get_ydata())[0] == pytest.approx(0.1 + 13 / 40)


def test_training_curves_without_a_kept_checkpoint_mark_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "metrics.csv"
    csv.write_text(CSV_16)
    drawn = _drawn(monkeypatch)
    plot_training_curves(csv, tmp_path / "curves.png")
    (fig,) = drawn
    assert not [line for ax in fig.axes for line in ax.get_lines() if line.get_linestyle() == "--"]


def test_the_prediction_grid_names_its_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images, targets, preds = _grid_inputs()
    drawn = _drawn(monkeypatch)
    title = figures.split_title("val")
    assert (
        title == "validation images (val split)" and figures.split_title("test") == "test images (test split)"
    )
    plot_prediction_grid(images, targets, preds, ["a", "b", "c"], tmp_path / "g.png", title=title)
    (fig,) = drawn
    (suptitle,) = [t for t in fig.texts if t.get_text() == title]
    # The title stays above the panels' own titles.
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    assert suptitle.get_window_extent(renderer).y0 >= fig.axes[0].title.get_window_extent(renderer).y1


@pytest.mark.parametrize("k", [3, 11, 30])
def test_confusion_matrix_figure_is_row_normalised_and_names_the_classes_and_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    rng = np.random.default_rng(k)
    counts = rng.integers(0, 500, (k, k))
    counts[:, 1] = 0  # class 1 is never predicted
    counts[2] = 0  # class 2 is absent from the truth
    names = [f"class number {i}" for i in range(k)]
    drawn = _drawn(monkeypatch)
    out = plot_confusion_matrix(counts, names, tmp_path / "confusion_val.png", split="val")
    with Image.open(out) as png:
        assert png.size[0] > 300 and png.size[1] > 300
    (fig,) = drawn
    ax = fig.axes[0]
    shown: np.ndarray = np.ma.filled(np.ma.asarray(ax.images[0].get_array(), dtype=float), np.nan)
    rows = np.nansum(shown, axis=1)
    np.testing.assert_allclose(np.delete(rows, 2), 1.0)  # each present class's row sums to 100 %
    assert np.isnan(shown[2]).all()  # the absent class: no shares
    np.testing.assert_allclose(shown[0], counts[0] / counts[0].sum())
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()][:3] == [names[0], names[1], f"{names[2]} (absent)"]
    assert "val split" in ax.get_title() and "row-normalised" in ax.get_title()
    bar = fig.axes[1]  # the colour bar speaks the cells' unit (%), not shares 0..1
    fig.canvas.draw()
    assert bar.get_ylabel().startswith("%") and "100%" in [t.get_text() for t in bar.get_yticklabels()]
    never = [t.get_text() for t in ax.get_xticklabels() if to_hex(t.get_color()) == NEVER_COLOR]
    assert never == [names[1]] and "never predicted" in ax.get_xlabel()
    # Legible: no two class names on an axis overlap, and none leaves the figure.
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for labels, lo, hi in ((ax.get_xticklabels(), "x0", "x1"), (ax.get_yticklabels(), "y0", "y1")):
        boxes = sorted(
            (getattr(b, lo), getattr(b, hi)) for b in (t.get_window_extent(renderer) for t in labels)
        )
        assert all(a[1] <= b[0] + 0.5 for a, b in itertools.pairwise(boxes)), boxes
        assert all(b.x0 >= 0 and b.y0 >= 0 for b in (t.get_window_extent(renderer) for t in labels))
        assert min(float(t.get_fontsize()) for t in labels) >= 6


def test_confusion_matrix_of_another_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"shape \(2, 2\) for 3 class names"):
        plot_confusion_matrix(np.zeros((2, 2)), ["a", "b", "c"], tmp_path / "c.png")


def test_a_short_run_gets_integer_epoch_ticks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "metrics.csv"
    csv.write_text(_csv(3))  # matplotlib's own ticks: 0, 0.25, 0.5, ...
    drawn = _drawn(monkeypatch)
    plot_training_curves(csv, tmp_path / "curves.png", kept=("last", 2))
    (fig,) = drawn
    fig.canvas.draw()
    for ax in fig.axes[:2]:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_one_epoch_gets_integer_ticks_and_a_tta_score_is_drawn_apart_from_the_logged_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: a one-epoch run had ticks -0.045 .. 0.045, and the ring read 0.746 (logged without TTA)
    while the run's metrics said 0.7593 (8-view TTA), with nothing saying why."""
    csv = tmp_path / "metrics.csv"
    csv.write_text(_csv(1))
    drawn = _drawn(monkeypatch)
    plot_training_curves(csv, tmp_path / "curves.png", kept=("last", 0), scored=(0.7593, "8-view TTA"))
    (fig,) = drawn
    fig.canvas.draw()
    for ax in fig.axes[:2]:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks == [0.0], ticks
    ax_score = fig.axes[1]
    (star,) = [line for line in ax_score.get_lines() if line.get_marker() == "*"]
    assert np.asarray(star.get_ydata())[0] == pytest.approx(0.7593)
    assert (
        "final mean IoU 0.7593 (8-view TTA; ring: mean IoU logged without it)"
        in (ax_score.get_legend_handles_labels()[1])
    )


def test_a_series_of_one_point_is_a_marker_and_its_legend_entry_shows_the_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-epoch run: each series was one 3-pt dot drawn as a line, under the kept epoch's dashed line,
    and its legend entry a line: nothing showed. Longer series keep their lines."""
    csv = tmp_path / "metrics.csv"
    csv.write_text(_csv(1))
    drawn = _drawn(monkeypatch)
    plot_training_curves(csv, tmp_path / "curves.png", kept=("last", 0))
    (fig,) = drawn
    for ax, labels in ((fig.axes[0], ["train loss", "val loss"]), (fig.axes[1], ["mean IoU", "mean Dice"])):
        handles, names = ax.get_legend_handles_labels()
        legend = ax.get_legend()
        assert legend is not None
        kept_line = next(line for line in ax.get_lines() if line.get_linestyle() == "--")
        for label in labels:
            line = handles[names.index(label)]
            assert line.get_marker() == "o" and line.get_markersize() >= figures.LONE_POINT_SIZE
            assert line.get_linestyle() == "None"  # no line: the legend shows the marker alone
            assert line.get_zorder() > kept_line.get_zorder()  # drawn over the kept epoch's line
        shown = dict(zip([t.get_text() for t in legend.get_texts()], legend.legend_handles, strict=True))
        for label in labels:
            assert shown[label].get_marker() == "o" and shown[label].get_linestyle() == "None"
    # Two points or more: a line with small markers, as before.
    csv.write_text(_csv(2))
    plot_training_curves(csv, tmp_path / "curves.png")
    curve = drawn[-1].axes[0].get_lines()[0]
    assert curve.get_linestyle() == "-" and curve.get_markersize() < figures.LONE_POINT_SIZE
