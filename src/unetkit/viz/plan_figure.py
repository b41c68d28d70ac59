"""The plan at a glance (``plan.png``): three panels, each answering one question of a self-configuring plan.

1. **How wide?** Each measured width (``base_channels``) with the optimizer steps the budget allows it, the
   ``MIN_STEPS`` line (gains stop near 2000 steps: the rule takes the widest width over it) and the chosen
   width highlighted.
2. **Which classes are rare?** The classes' pixel shares (log scale) against ``RARE_CLASS_FRACTION``, with
   the classes that get class weights or foreground crops marked.
3. **Does the network see whole objects?** Each class's median and 90th-percentile object extent against
   the U-Net's receptive field and the crop.

:func:`plan_series` computes every plotted number from the plan and the fingerprint (pure: tests check it
exactly); :func:`draw_plan_figure` only draws it. matplotlib is imported inside the drawing functions, so
planning code that does not draw never loads it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from unetkit.files import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from unetkit.planning.fingerprint import Fingerprint
    from unetkit.planning.plan import Plan

CHOSEN_COLOR = "#d95f02"  # the plan's choice, and the classes it treats specially
OTHER_COLOR = "#9aa5b1"
LINE_COLOR = "#1b1b1b"
RF_COLOR = "#1b9e77"
CROP_COLOR = "#7570b3"
THING_COLOR = "#4c78a8"
LABEL_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}


@dataclass(frozen=True)
class WidthSeries:
    """Panel 1: the measured widths (narrow to wide) and the steps the budget allows each."""

    base_channels: tuple[int, ...]
    steps_in_budget: tuple[int, ...]
    step_seconds: tuple[float, ...]
    chosen: tuple[bool, ...]  # True for the plan's model.kwargs.base_channels
    min_steps: int  # the rule's line: the widest width with at least this many steps is chosen
    precision: str
    device: str
    budget_minutes: float


@dataclass(frozen=True)
class ClassShareSeries:
    """Panel 2: each class's share of the labelled training pixels against the rare-class threshold."""

    names: tuple[str, ...]
    pixel_fractions: tuple[float, ...]
    rare_fraction: float  # plan.RARE_CLASS_FRACTION
    rare: tuple[bool, ...]  # present and under rare_fraction: the classes that switch class weights on
    weights: tuple[float, ...] | None  # the plan's class_weights (None: unweighted loss)
    foreground_crops: tuple[bool, ...]  # a share of the crops is placed on a pixel of this class
    crop_share: float  # data.augment.foreground_crops: that share of the crops (0: uniform crops)


@dataclass(frozen=True)
class ObjectSizeSeries:
    """Panel 3: each class's object extents (px, longer bounding-box side) against what the U-Net sees."""

    names: tuple[str, ...]
    extent_median: tuple[float, ...]
    extent_p90: tuple[float, ...]
    objects: tuple[int, ...]
    stuff: tuple[bool, ...]  # spans the image (sky, road, background): not an object the depth must cover
    depth: int
    receptive_field: int  # plan.receptive_field(depth)
    crop: tuple[int, int]  # data.crop_size (H, W)


@dataclass(frozen=True)
class PlanSeries:
    """Everything :func:`draw_plan_figure` draws."""

    title: str
    widths: WidthSeries
    classes: ClassShareSeries
    objects: ObjectSizeSeries


def plan_series(plan: Plan, fp: Fingerprint) -> PlanSeries:
    """The plotted numbers of ``plan`` (made by :func:`unetkit.planning.make_plan` from ``fp``).

    Raises:
        ValueError: the plan has no measured width, or its class weights do not match ``fp``'s classes.
    """
    from unetkit.planning.plan import MIN_STEPS, PLANNED_MODEL, RARE_CLASS_FRACTION, receptive_field

    config = plan.config
    if not plan.table:
        raise ValueError("the plan has no measured width (empty plan.table): nothing to draw in panel 1")
    rows = sorted(plan.table, key=lambda r: r["base_channels"])
    chosen_width = config["model"]["kwargs"]["base_channels"]
    budget_s = plan.summary.get("budget_seconds")
    widths = WidthSeries(
        base_channels=tuple(int(r["base_channels"]) for r in rows),
        steps_in_budget=tuple(int(r["steps_in_budget"]) for r in rows),
        step_seconds=tuple(float(r["step_seconds"]) for r in rows),
        chosen=tuple(r["base_channels"] == chosen_width for r in rows),
        min_steps=int(plan.summary.get("min_steps", MIN_STEPS)),
        precision=str(config["trainer"]["precision"]),
        device=str(plan.summary.get("device", config["trainer"]["accelerator"])),
        budget_minutes=budget_s / 60.0 if budget_s else float(config["trainer"]["max_time_minutes"]),
    )
    names = tuple(c.name for c in fp.classes)
    weights = config.get("class_weights")
    if weights is not None and len(weights) != len(names):
        raise ValueError(
            f"the plan has {len(weights)} class weights but the fingerprint {len(names)} classes "
            f"({', '.join(names)}); draw a plan with the fingerprint it was made from"
        )
    augment = config["data"]["augment"]
    share = float(augment.get("foreground_crops") or 0.0)
    # Without foreground_classes the crops go to every class but 0 (the augmentation's default).
    fg = set(augment.get("foreground_classes") or range(1, len(names))) if share > 0 else set()
    classes = ClassShareSeries(
        names=names,
        pixel_fractions=tuple(float(c.pixel_fraction) for c in fp.classes),
        rare_fraction=RARE_CLASS_FRACTION,
        rare=tuple(0 < c.pixel_fraction < RARE_CLASS_FRACTION for c in fp.classes),
        weights=None if weights is None else tuple(float(w) for w in weights),
        foreground_crops=tuple(c.index in fg for c in fp.classes),
        crop_share=share,
    )
    depth = int(config["model"]["kwargs"]["depth"])
    crop_h, crop_w = config["data"]["crop_size"]
    objects = ObjectSizeSeries(
        names=names,
        extent_median=tuple(float(c.extent_median) for c in fp.classes),
        extent_p90=tuple(float(c.extent_p90) for c in fp.classes),
        objects=tuple(int(c.objects) for c in fp.classes),
        stuff=tuple(bool(c.stuff) for c in fp.classes),
        depth=depth,
        receptive_field=receptive_field(depth),
        crop=(int(crop_h), int(crop_w)),
    )
    title = (
        f"Plan for {Path(fp.root).name or fp.root}: {budget_text(widths)} on {widths.device}, "
        f"{sum(fp.num_images.values())} images ({fp.num_images.get('train', 0)} train)"
    )
    trained = str(config["model"].get("name") or PLANNED_MODEL)
    if trained != PLANNED_MODEL:
        # A run with model.name=... keeps the plan's figure: it must not pass for that model's (a trial's
        # 1x1 pixel classifier run showed "receptive field 204 px", the planned U-Net's).
        title += (
            f"\nthis run trains {trained} (set on the command line), not the {PLANNED_MODEL} planned here: "
            f"the widths, steps and receptive field are the planned {PLANNED_MODEL}'s"
        )
    return PlanSeries(title, widths, classes, objects)


def budget_text(s: WidthSeries) -> str:
    """The budget as ``--time`` writes it (``20s``, ``19m``), as the plan's text says it: in minutes, a 20 s
    budget read ``0.333333 min``."""
    from unetkit.planning.plan import seconds_text  # the plan's one rule

    return seconds_text(round(s.budget_minutes * 60.0, 3))


# ------------------------------------------------------------------------------------------ drawing


def _class_axis(ax: Axes, names: tuple[str, ...]) -> None:
    """Class names under the bars: turned when long or many, smaller when very many."""
    rotate = len(names) > 4 or max((len(n) for n in names), default=0) > 12
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(
        names,
        rotation=(90 if len(names) > 16 else 35) if rotate else 0,
        ha="right" if rotate and len(names) <= 16 else "center",
        fontsize=8 if len(names) <= 30 else 6,
    )
    ax.set_xlim(-0.6, len(names) - 0.4)


def _plain_log_ticks(ax: Axes, percent: bool) -> None:
    """A log axis labelled in plain numbers (``40``, ``200``; ``percent``: ``1%``, ``10%``) where matplotlib
    writes ``4 x 10^1`` and ``10^-2``: a share read as a percentage, as the rare line's label gives it."""
    from matplotlib.ticker import FuncFormatter, LogFormatter, NullFormatter

    if percent:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:g}%"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.yaxis.set_major_formatter(LogFormatter())
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))


def _rule_line(ax: Axes, value: float, text: str) -> None:
    """A rule's threshold: a dashed line at ``value``, labelled beside the panel's right edge (a tick of a
    second y axis), where no bar can be under the label (inside the panel it covered the bars that cross
    the line)."""
    from matplotlib.ticker import NullLocator

    ax.axhline(value, color=LINE_COLOR, ls="--", lw=1.2)
    side = ax.secondary_yaxis("right")
    side.set_yticks([value])
    side.set_yticklabels([text], fontsize=8)
    side.yaxis.set_minor_locator(NullLocator())
    side.tick_params(length=4, color=LINE_COLOR)


def width_rule(s: WidthSeries) -> str:
    """The caption of panel 1: the rule that chose the width, as it applied to these bars."""
    if any(steps >= s.min_steps for steps in s.steps_in_budget):
        return "rule: the widest bar over the line"
    return "no bar reaches the line: the rule then takes the narrowest (most steps)"


def _draw_widths(ax: Axes, s: WidthSeries) -> None:
    x = range(len(s.base_channels))
    colors = [CHOSEN_COLOR if c else OTHER_COLOR for c in s.chosen]
    ax.bar(x, s.steps_in_budget, color=colors, width=0.65)
    for i, (steps, sec, chosen) in enumerate(zip(s.steps_in_budget, s.step_seconds, s.chosen)):
        ax.annotate(
            f"{steps}\n{sec:.2f}s/step",
            (i, steps),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7.5,
            fontweight="bold" if chosen else "normal",
            bbox=LABEL_BOX,  # readable where the MIN_STEPS line crosses it
        )
    _rule_line(ax, s.min_steps, f"{s.min_steps} steps:\ngains stop\nhere")
    ax.set_xticks(list(x))
    ax.set_xticklabels(
        [f"{b}\nchosen" if c else str(b) for b, c in zip(s.base_channels, s.chosen)], fontsize=8.5
    )
    for label, chosen in zip(ax.get_xticklabels(), s.chosen):
        if chosen:
            label.set_color(CHOSEN_COLOR)
            label.set_fontweight("bold")
    top = max(*s.steps_in_budget, s.min_steps)
    ax.set_ylim(0, top * 1.25)
    ax.set_xlim(-0.6, len(s.base_channels) - 0.4)
    ax.set_xlabel(f"width (base channels)\n{width_rule(s)}")
    ax.set_ylabel(f"optimizer steps in {budget_text(s)} (predicted)")
    ax.set_title(f"How wide? Steps the budget allows\n({s.device}, precision {s.precision})", fontsize=10)


def _draw_classes(ax: Axes, s: ClassShareSeries) -> None:
    from matplotlib.patches import Patch

    x = range(len(s.names))
    shares = [f if f > 0 else float("nan") for f in s.pixel_fractions]  # an absent class has no bar
    floor = min([*(f for f in s.pixel_fractions if f > 0), s.rare_fraction]) / 4.0
    colors = [CHOSEN_COLOR if r else OTHER_COLOR for r in s.rare]
    bars = ax.bar(x, shares, color=colors, width=0.65)
    for bar, crops in zip(bars, s.foreground_crops):
        if crops:
            bar.set_hatch("///")
            bar.set_edgecolor("white")
    ax.set_yscale("log")
    ax.set_ylim(floor, 1.6)
    _plain_log_ticks(ax, percent=True)
    _rule_line(ax, s.rare_fraction, f"rare\nbelow\n{s.rare_fraction:.0%}")
    many = len(s.names) > 16
    for i, f in enumerate(s.pixel_fractions):
        marks = ["absent"] if f <= 0 else []
        if s.weights is not None:
            marks.append(f"w {s.weights[i]:.1f}")
        if marks:
            ax.annotate(
                "\n".join(marks) if not many else " ".join(marks),
                (i, f if f > 0 else floor),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7 if not many else 6,
                rotation=90 if many else 0,
                color=CHOSEN_COLOR if s.rare[i] else LINE_COLOR,
            )
    _class_axis(ax, s.names)
    ax.set_ylabel("share of labelled training pixels")
    legend = []
    if any(s.rare):
        legend.append(Patch(color=CHOSEN_COLOR, label="rare" + (": weighted up" if s.weights else "")))
    if any(s.foreground_crops):
        legend.append(
            Patch(
                facecolor=CHOSEN_COLOR,
                hatch="///",
                edgecolor="white",
                label=f"{s.crop_share:.0%} of crops on it",
            )
        )
    if legend:
        ax.legend(handles=legend, fontsize=7.5, loc="upper right")
    weighted = "w: class weights of the loss" if s.weights is not None else "no class weights: none is rare"
    ax.set_title(f"Which classes are rare? Pixel shares\n({weighted})", fontsize=10)


def crop_label(crop: tuple[int, int]) -> str:
    """The crop line's label: the line is at the crop's short side (the longest object a crop holds in any
    orientation), said so, with the whole crop as W x H (``crop`` is (H, W), as ``data.crop_size``)."""
    return f"crop's short side {min(crop)} px (crop {crop[1]}x{crop[0]})"


def _draw_objects(ax: Axes, s: ObjectSizeSeries) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    x = range(len(s.names))
    p90 = [v if n else float("nan") for v, n in zip(s.extent_p90, s.objects)]
    med = [v if n else float("nan") for v, n in zip(s.extent_median, s.objects)]
    colors = [OTHER_COLOR if st else THING_COLOR for st in s.stuff]
    ax.bar(x, p90, color=colors, alpha=0.35, width=0.7)
    ax.bar(x, med, color=colors, width=0.4)
    ax.set_yscale("log")
    _plain_log_ticks(ax, percent=False)
    crop = min(s.crop)  # the short side: the longest object a crop holds whatever its orientation
    values = [v for v in (*p90, *med) if v == v and v > 0]
    low = min([*values, s.receptive_field, crop]) / 2.0
    # Headroom above the tallest bar and line for the lines' labels (the legend is beside the panel).
    ax.set_ylim(low, max([*values, s.receptive_field, crop]) * 2.5)
    ax.axhline(s.receptive_field, color=RF_COLOR, lw=1.6)
    ax.axhline(crop, color=CROP_COLOR, lw=1.6, ls="--")
    lines = [
        (s.receptive_field, f"receptive field {s.receptive_field} px (depth {s.depth})", RF_COLOR),
        (crop, crop_label(s.crop), CROP_COLOR),
    ]
    close = max(s.receptive_field, crop) / min(s.receptive_field, crop) < 1.5
    for value, text, color in lines:
        below = close and value == min(s.receptive_field, crop) and s.receptive_field != crop
        ax.annotate(
            text,
            (1, value),
            xycoords=("axes fraction", "data"),
            xytext=(-3, -3 if below else 3),
            textcoords="offset points",
            ha="right",
            va="top" if below else "bottom",
            fontsize=8,
            color=color,
            bbox=LABEL_BOX,
        )
    for i, n in enumerate(s.objects):
        if not n:
            ax.annotate(
                "no objects",
                (i, low),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=6.5,
                rotation=90,
            )
    _class_axis(ax, s.names)
    ax.set_ylabel("object extent (px, longer box side)")
    legend = [
        Patch(color=THING_COLOR, label="median object"),
        Patch(color=THING_COLOR, alpha=0.35, label="90th percentile"),
        Line2D([], [], color=RF_COLOR, lw=1.6, label="receptive field"),
        Line2D([], [], color=CROP_COLOR, lw=1.6, ls="--", label="crop's short side"),
    ]
    if any(s.stuff):
        legend.insert(2, Patch(color=OTHER_COLOR, label="stuff: spans the image"))
    # Beside the panel (the last one: nothing is to its right): inside, its two columns were wider than a
    # panel of few classes and stuck out of its frame, and they covered the tallest bars.
    ax.legend(handles=legend, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.set_title(
        "Does the network see whole objects?\nObject extents vs. receptive field and crop", fontsize=10
    )


def draw_plan_figure(series: PlanSeries) -> Figure:
    """The three panels of ``series`` side by side (a headless figure; nothing is written)."""
    from unetkit.viz.figures import headless_figure

    k = len(series.classes.names)
    class_width = min(9.0, max(3.6, 0.32 * k + 1.6))
    widths = [max(3.6, 0.75 * len(series.widths.base_channels) + 1.4), class_width, class_width]
    fig = headless_figure((sum(widths) + 1.5, 4.8 if k <= 16 else 5.6))
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": widths})
    _draw_widths(axes[0], series.widths)
    _draw_classes(axes[1], series.classes)
    _draw_objects(axes[2], series.objects)
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    fig.suptitle(series.title, fontsize=11, fontweight="bold")
    fig.tight_layout()
    return fig


def plan_figure_png(plan: Plan, fp: Fingerprint) -> bytes:
    """The PNG of ``plan``'s figure, encoded in memory (a caller writes it with the plan's other files)."""
    fig = draw_plan_figure(plan_series(plan, fp))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def plot_plan(plan: Plan, fp: Fingerprint, out_png: str | Path) -> Path:
    """Write ``plan``'s figure to ``out_png`` (drawn in memory first, then written atomically: a failure
    while drawing leaves no file, and a reader never sees half a PNG)."""
    return atomic_write_bytes(out_png, plan_figure_png(plan, fp))
