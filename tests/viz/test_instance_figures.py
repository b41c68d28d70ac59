"""Instance figures: outline colours per object, and the comparison figure's panels."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from unetkit.viz import instances as viz
from unetkit.viz.instances import (
    draw_instance_outlines,
    instance_colors,
    plot_instance_comparison,
    plot_instance_outlines,
)


def two_touching() -> np.ndarray:
    labels = np.zeros((10, 14), dtype=np.int32)
    labels[2:8, 1:6] = 1
    labels[2:8, 6:11] = 2
    return labels


def test_instance_colors_are_distinct() -> None:
    colors = instance_colors(400)
    assert colors.shape == (401, 3) and colors.dtype == np.uint8 and (colors[0] == 0).all()
    assert len({tuple(c) for c in colors[1:30]}) == 29
    steps = np.abs(colors[1:-1].astype(int) - colors[2:].astype(int)).sum(axis=1)
    assert steps.min() > 60  # consecutive ids (often neighbours) never look alike


def test_outlines_in_each_objects_colour_interior_untouched() -> None:
    labels = two_touching()
    image = np.full((10, 14), 50, dtype=np.uint8)  # gray input becomes RGB
    out = draw_instance_outlines(image, labels)
    colors = instance_colors(2)
    assert out.shape == (10, 14, 3) and out.dtype == np.uint8
    assert (out[2, 1] == colors[1]).all() and (out[7, 3] == colors[1]).all()
    assert (out[4, 5] == colors[1]).all() and (out[4, 6] == colors[2]).all()  # both sides of the seam
    assert (out[4, 3] == 50).all() and (out[4, 8] == 50).all()  # interiors keep the image
    assert (out[0, 0] == 50).all() and (out[9, 13] == 50).all()  # background keeps the image
    edge_pixels = np.any(out != 50, axis=2)
    assert edge_pixels.sum() == 2 * (2 * 6 + 2 * 5 - 4)  # the inner ring of each 6x5 object
    with pytest.raises(ValueError, match=r"labels must be \(H, W\)"):
        draw_instance_outlines(image, labels[:5])
    with pytest.raises(ValueError, match="colors must be"):
        draw_instance_outlines(image, labels, colors=np.zeros((2, 3), dtype=np.uint8))


def test_comparison_figure_has_a_panel_per_method(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[Figure] = []
    save = viz.save_figure
    monkeypatch.setattr(viz, "save_figure", lambda fig, path: (drawn.append(fig), save(fig, path))[1])
    backend = matplotlib.get_backend()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (10, 14, 3), dtype=np.uint8)
    merged = (two_touching() > 0).astype(np.int32)
    out = plot_instance_comparison(
        image,
        [("truth", two_touching()), ("components", merged), ("empty", np.zeros_like(merged))],
        tmp_path / "cmp.png",
    )
    assert out == tmp_path / "cmp.png" and Image.open(out).size[0] > 100
    titles = [ax.get_title() for ax in drawn[0].axes if ax.get_title()]
    assert titles == ["image (14x10)", "truth: 2 objects", "components: 1 object", "empty: 0 objects"]
    single = plot_instance_outlines(image[..., :1], two_touching(), tmp_path / "one.png", title="truth")
    assert Image.open(single).mode in ("RGB", "RGBA")
    assert drawn[1].axes[0].get_title() == "truth: 2 objects"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.png", "one.png"]  # no temp files left
    assert matplotlib.get_backend() == backend
    with pytest.raises(ValueError, match="panels is empty"):
        plot_instance_comparison(image, [], tmp_path / "x.png")


def test_long_panel_titles_wrap_within_their_panels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long method name ran across the next panel's title ('...: 7 objects' over 'watershed ...')."""
    drawn: list[Figure] = []
    save = viz.save_figure
    monkeypatch.setattr(viz, "save_figure", lambda fig, path: (drawn.append(fig), save(fig, path))[1])
    labels = two_touching()
    image = np.zeros(labels.shape, dtype=np.uint8)
    long = "connected components (a rather long method name)"
    plot_instance_comparison(image, [("truth", labels), (long, labels), (long, labels)], tmp_path / "c.png")
    (fig,) = drawn
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    titles = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    assert len(titles) == 4 and "\n" in fig.axes[2].get_title()
    assert all(a.x1 <= b.x0 for a, b in itertools.pairwise(titles)), [(t.x0, t.x1) for t in titles]
