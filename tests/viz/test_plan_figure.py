"""plan.png: the series equal the plan's numbers, the panels draw them, and the file is all or nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from PIL import Image

from unetkit.planning import Machine, make_plan
from unetkit.planning.fingerprint import ClassStats, Fingerprint
from unetkit.planning.plan import (
    FOREGROUND_CROP_SHARE,
    MIN_STEPS,
    RARE_CLASS_FRACTION,
    Candidate,
    Plan,
    choose_geometry,
    receptive_field,
)
from unetkit.viz.plan_figure import CHOSEN_COLOR, draw_plan_figure, plan_series, plot_plan

SRC = Path(__file__).resolve().parents[2] / "src"


def make_fp() -> Fingerprint:
    """Background (stuff), a common object class, a rare one (< 2 %) and one absent from the masks."""
    classes = (
        ClassStats(0, "background", 0.9, 1.0, 10, 900, 500, 1024, 1e5, 1e4, 1024.0, True),
        ClassStats(1, "cell", 0.085, 1.0, 300, 40, 20, 90, 1200, 300, 45.0),
        ClassStats(2, "mitosis", 0.015, 0.5, 30, 12, 8, 20, 100, 50, 12.0),
        ClassStats(3, "artefact", 0.0, 0.0),
    )
    size = (1024, 1024)
    return Fingerprint(
        root="/data/cells", num_images={"train": 20, "val": 4, "test": 6}, train_pixels=20 * 1024 * 1024,
        channels=1, size_median=size, size_min=size, size_max=size, distinct_sizes=1, intensity={},
        gray_as_rgb=0.0, normalization="zscore", mean=(0.5,), std=(0.2,), normalization_reason="test",
        classes=classes, ignore_fraction=0.0, vertical_asymmetry=0.0, sampled_images=20, seconds=0.0,
    )  # fmt: skip


def make_test_plan(budget_s: float = 1140.0) -> tuple[Plan, Fingerprint]:
    fp = make_fp()
    geo = choose_geometry(fp, "cpu")
    widths = {8: 0.25, 12: 0.4, 16: 0.5, 32: 1.0}  # 1140 s: 16 is the widest with >= 2000 steps
    times = {Candidate(w, geo.depth, geo.crop, geo.batch).label: t for w, t in widths.items()}
    return make_plan(fp, budget_s, "cpu", Machine("cpu", "test cpu", (), False, 2, times)), fp


def test_width_series_flags_the_chosen_width_and_the_rules_line() -> None:
    plan, fp = make_test_plan()
    s = plan_series(plan, fp).widths
    chosen = plan.config["model"]["kwargs"]["base_channels"]
    assert chosen == 16  # the setting of this test: 32 gets too few steps
    assert s.base_channels == (8, 12, 16, 32)
    steps = {r["base_channels"]: r["steps_in_budget"] for r in plan.table}
    assert s.steps_in_budget == tuple(steps[b] for b in s.base_channels)
    assert s.chosen == (False, False, True, False)
    assert s.min_steps == MIN_STEPS == plan.summary["min_steps"]
    assert s.precision == plan.config["trainer"]["precision"] == "32-true"
    assert s.device == "cpu" and s.budget_minutes == 19.0
    # A tight budget: nothing reaches the line and the narrowest is chosen (and flagged).
    tight, fp = make_test_plan(budget_s=300)
    assert plan_series(tight, fp).widths.chosen == (True, False, False, False)


def test_class_series_marks_rare_weighted_and_cropped_classes() -> None:
    plan, fp = make_test_plan()
    s = plan_series(plan, fp).classes
    assert s.names == ("background", "cell", "mitosis", "artefact")
    assert s.pixel_fractions == (0.9, 0.085, 0.015, 0.0)
    assert s.rare_fraction == RARE_CLASS_FRACTION
    assert s.rare == (False, False, True, False)  # absent is not rare (plan.class_weights' rule)
    assert s.weights == tuple(plan.config["class_weights"]) and s.weights is not None
    assert plan.config["data"]["augment"]["foreground_classes"] == [2]
    assert s.foreground_crops == (False, False, True, False)
    assert s.crop_share == plan.config["data"]["augment"]["foreground_crops"] == FOREGROUND_CROP_SHARE


def test_object_series_holds_the_plans_receptive_field_and_crop() -> None:
    plan, fp = make_test_plan()
    s = plan_series(plan, fp).objects
    depth = plan.config["model"]["kwargs"]["depth"]
    assert s.depth == depth
    assert s.receptive_field == receptive_field(depth) == plan.summary["receptive_field_px"]
    assert list(s.crop) == plan.config["data"]["crop_size"]
    assert s.extent_median == (900.0, 40.0, 12.0, 0.0) and s.extent_p90 == (1024.0, 90.0, 20.0, 0.0)
    assert s.stuff == (True, False, False, False) and s.objects == (10, 300, 30, 0)


def test_class_weights_of_another_fingerprint_are_refused() -> None:
    plan, fp = make_test_plan()
    plan.config["class_weights"] = [1.0, 2.0]
    with pytest.raises(ValueError, match="2 class weights but the fingerprint 4 classes"):
        plan_series(plan, fp)


def _hlines(ax: Any) -> list[float]:
    """y of the horizontal lines drawn across an axes (axhline)."""
    return [float(line.get_ydata()[0]) for line in ax.get_lines() if len(set(line.get_ydata())) == 1]


def test_the_panels_draw_the_series() -> None:
    plan, fp = make_test_plan()
    series = plan_series(plan, fp)
    fig = draw_plan_figure(series)
    widths_ax, classes_ax, objects_ax = fig.axes[:3]
    # Panel 1: one bar per width at its steps, the chosen one in the highlight colour, the MIN_STEPS line.
    bars = widths_ax.patches
    assert [b.get_height() for b in bars] == list(series.widths.steps_in_budget)
    assert [to_hex(b.get_facecolor()) == CHOSEN_COLOR for b in bars] == list(series.widths.chosen)
    assert _hlines(widths_ax) == [MIN_STEPS]
    assert "32-true" in widths_ax.get_title()
    # Panel 2: log scale, the rare threshold, the rare class highlighted and the cropped one hatched.
    assert classes_ax.get_yscale() == "log" and _hlines(classes_ax) == [RARE_CLASS_FRACTION]
    bars = classes_ax.patches[: len(series.classes.names)]
    assert [to_hex(b.get_facecolor()) == CHOSEN_COLOR for b in bars] == [False, False, True, False]
    assert [bool(b.get_hatch()) for b in bars] == [False, False, True, False]
    assert [t.get_text() for t in classes_ax.get_xticklabels()] == list(series.classes.names)
    # Panel 3: the receptive field and the crop's short side as lines.
    assert sorted(_hlines(objects_ax)) == sorted([series.objects.receptive_field, min(series.objects.crop)])


def test_plot_plan_writes_a_png_and_nothing_else(tmp_path: Path) -> None:
    plan, fp = make_test_plan()
    out = plot_plan(plan, fp, tmp_path / "plan.png")
    with Image.open(out) as png:
        assert png.format == "PNG" and png.size[0] > 1000 and png.size[1] > 400
    assert [p.name for p in tmp_path.iterdir()] == ["plan.png"]


def test_a_failure_while_drawing_leaves_no_partial_png(tmp_path: Path, failing_savefig: str) -> None:
    plan, fp = make_test_plan()
    out = tmp_path / "plan.png"
    out.write_bytes(b"the previous plan's figure")
    with pytest.raises(OSError, match=failing_savefig):
        plot_plan(plan, fp, out)
    assert out.read_bytes() == b"the previous plan's figure"  # untouched, not half a PNG
    assert [p.name for p in tmp_path.iterdir()] == ["plan.png"]  # no temp file left behind


def test_matplotlib_is_imported_only_to_draw() -> None:
    script = (
        "import sys\n"
        "from unetkit.cli.main import main\n"
        "try:\n    main(['plan', '--help'])\nexcept SystemExit:\n    pass\n"
        "import unetkit.viz.plan_figure, unetkit.planning, unetkit.cli.plan\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported without drawing'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: unetkit plan" in result.stdout


def test_the_crop_line_is_labelled_as_the_short_side_it_is_drawn_at() -> None:
    """The line sits at the crop's short side (on an axis of the longer box side): its label says so, and
    gives the crop as W x H (kept (H, W), as data.crop_size), as every size the tools show reads."""
    import dataclasses

    plan, fp = make_test_plan()
    series = plan_series(plan, fp)
    series = dataclasses.replace(series, objects=dataclasses.replace(series.objects, crop=(192, 256)))
    ax = draw_plan_figure(series).axes[2]
    texts = [t.get_text() for t in ax.texts]
    assert "crop's short side 192 px (crop 256x192)" in texts
    assert 192 in _hlines(ax)
    legend = ax.get_legend()
    assert legend is not None and "crop's short side" in [t.get_text() for t in legend.get_texts()]


def _overlaps(a: Any, b: Any) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


@pytest.mark.parametrize("budget_s", [300.0, 1140.0, 30000.0])
def test_the_rules_labels_cover_no_bar(budget_s: float) -> None:
    """ "2000 steps: gains stop here" and "rare below 2%" sat at the left end of their lines, over the bars
    that cross them (the background's share; a wide budget's narrow width)."""
    plan, fp = make_test_plan(budget_s)
    fig = draw_plan_figure(plan_series(plan, fp))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for ax, words in ((fig.axes[0], "gains stop"), (fig.axes[1], "below")):
        labels = [t for t in fig.findobj(Text) if words in t.get_text() and t.get_visible()]
        assert labels, words
        bars = [b.get_window_extent(renderer) for b in ax.patches if isinstance(b, Rectangle)]
        for label in labels:
            box = label.get_window_extent(renderer)
            assert not any(_overlaps(box, bar) for bar in bars), (label.get_text(), box)


def test_the_width_caption_says_which_rule_chose() -> None:
    plan, fp = make_test_plan()
    axis = draw_plan_figure(plan_series(plan, fp)).axes[0]
    assert "rule: the widest bar over the line" in axis.get_xlabel()
    tight, fp = make_test_plan(budget_s=300)  # no bar reaches the line: the narrowest is chosen
    series = plan_series(tight, fp).widths
    assert max(series.steps_in_budget) < series.min_steps
    caption = draw_plan_figure(plan_series(tight, fp)).axes[0].get_xlabel()
    assert "widest bar over the line" not in caption
    assert "no bar reaches the line" in caption and "narrowest" in caption


@pytest.mark.parametrize(("budget_s", "text"), [(20.0, "20s"), (60.0, "1m"), (90.0, "90s"), (1140.0, "19m")])
def test_the_budget_is_written_as_time_takes_it(budget_s: float, text: str) -> None:
    """A 20 s budget read '0.333333 min' in the title and the steps axis."""
    plan, fp = make_test_plan(budget_s)
    series = plan_series(plan, fp)
    assert f": {text} on cpu" in series.title
    assert draw_plan_figure(series).axes[0].get_ylabel() == f"optimizer steps in {text} (predicted)"


def _one_class_fp() -> Fingerprint:
    """Few classes: the narrowest panels (the legend's two columns were wider than panel 3)."""
    import dataclasses

    fp = make_fp()
    return dataclasses.replace(fp, classes=fp.classes[:2])


def test_the_object_legend_stays_out_of_the_panel_and_the_log_axes_read_plain_numbers() -> None:
    fp = _one_class_fp()
    plan, _ = make_test_plan()
    plan.config["class_weights"] = None
    fig = draw_plan_figure(plan_series(plan, fp))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    classes_ax, objects_ax = fig.axes[1:3]
    legend = objects_ax.get_legend()
    assert legend is not None
    box, frame = legend.get_window_extent(renderer), objects_ax.get_window_extent(renderer)
    # Wholly beside the panel (it stuck out of its frame): over no bar and no line label.
    assert box.x0 >= frame.x1
    assert box.x1 <= fig.bbox.x1 + 1
    # Ticks in plain numbers and percentages, not 4 x 10^1 / 10^-2 (mathtext).
    for ax in (classes_ax, objects_ax):
        texts = [
            t.get_text() for t in [*ax.get_yticklabels(), *ax.get_yticklabels(minor=True)] if t.get_text()
        ]
        assert texts and not any("^" in t or "$" in t for t in texts), texts
    shares = [t.get_text() for t in classes_ax.get_yticklabels() if t.get_text()]
    assert "1%" in shares and "10%" in shares and "100%" in shares


def test_a_run_of_another_model_says_the_figure_is_the_planned_unets() -> None:
    # Trial 28: a run with model.name=pixel_classifier kept a plan.png reading "receptive field 204 px".
    from unetkit.planning.folder import overridden_plan

    plan, fp = make_test_plan()
    assert "\n" not in plan_series(plan, fp).title
    other = overridden_plan(plan, ["model.name=pixel_classifier"], keep_unused=True)  # as run_files draws
    title = plan_series(other, fp).title
    assert title.endswith(
        "\nthis run trains pixel_classifier (set on the command line), not the unet planned here: the "
        "widths, steps and receptive field are the planned unet's"
    )
