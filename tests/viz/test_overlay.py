"""Class palette, colourised masks and overlays."""

from __future__ import annotations

import numpy as np
import pytest

from unetkit.viz.instances import instance_colors
from unetkit.viz.overlay import (
    class_palette,
    colorize_mask,
    display_image,
    overlay,
    prediction_overlay,
)


def test_palette_fixed_and_distinct() -> None:
    palette = class_palette(256)
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert len({tuple(c) for c in palette}) == 256
    np.testing.assert_array_equal(palette[0], [0, 0, 0])
    np.testing.assert_array_equal(class_palette(3), palette[:3])  # same colour for a class whatever K
    with pytest.raises(ValueError, match=r"num_classes must be an int in 1\.\.256, got 0"):
        class_palette(0)


def test_colorize_mask_and_ignore() -> None:
    palette = class_palette(3)
    mask = np.array([[0, 1], [2, 255]])
    rgb = colorize_mask(mask, palette)
    np.testing.assert_array_equal(rgb[0, 1], palette[1])
    np.testing.assert_array_equal(rgb[1, 1], [255, 255, 255])
    with pytest.raises(ValueError, match="exceed the palette of 3 classes"):
        colorize_mask(np.array([[3]]), palette)


def test_overlay_blends_hand_computed_values() -> None:
    palette = np.array([[0, 0, 0], [200, 100, 0]], dtype=np.uint8)
    image = np.array([[10, 100]], dtype=np.uint8)  # gray (H, W)
    mask = np.array([[0, 1]])
    out = overlay(image, mask, palette, alpha=0.25, rows_per_chunk=1)
    np.testing.assert_array_equal(out[0, 0], [10, 10, 10])  # background untinted
    np.testing.assert_array_equal(out[0, 1], [125, 100, 75])  # 0.75 * 100 + 0.25 * (200, 100, 0)
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    assert overlay(rgb, np.ones((2, 2), int), palette, alpha=1.0, background=None)[1, 1].tolist() == [
        200,
        100,
        0,
    ]
    with pytest.raises(ValueError, match="does not match image shape"):
        overlay(rgb, np.ones((3, 2), int), palette)


def test_display_image_shows_other_channel_counts() -> None:
    """Gray and RGB as they are; two channels as the fluorescence composite (first green, second magenta);
    four or more as their first three. Overlays and figures take any channel count through it."""
    gray = np.full((2, 3, 1), 7, np.uint8)
    assert display_image(gray) is gray
    pair = np.zeros((2, 3, 2), np.uint8)
    pair[..., 0], pair[..., 1] = 200, 50
    np.testing.assert_array_equal(display_image(pair)[0, 0], [50, 200, 50])
    five = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    np.testing.assert_array_equal(display_image(five), five[..., :3])
    out = overlay(pair, np.ones((2, 3), np.int64), class_palette(2), alpha=0.0)
    np.testing.assert_array_equal(out[0, 0], [50, 200, 50])
    with pytest.raises(TypeError, match="uint8"):
        display_image(pair.astype(np.float32))


def test_prediction_overlay_is_the_class_overlay_with_instance_outlines() -> None:
    """The one drawing of a prediction's overlay (predict's overlays/, serve's overlay.png): the class
    colours over the image, and each instance's inner edge in its own colour when there are instances."""
    image = np.full((8, 10), 90, np.uint8)
    mask = np.zeros((8, 10), np.int64)
    mask[1:5, 1:5] = mask[4:8, 6:10] = 1
    labels = np.zeros((8, 10), np.int32)
    labels[1:5, 1:5], labels[4:8, 6:10] = 1, 2
    palette = class_palette(2)
    plain = overlay(image, mask, palette, 0.3)
    np.testing.assert_array_equal(prediction_overlay(image, mask, palette, 0.3), plain)
    outlined = prediction_overlay(image, mask, palette, 0.3, labels)
    colors = instance_colors(2)
    np.testing.assert_array_equal(outlined[1, 1], colors[1])  # an edge pixel of instance 1
    np.testing.assert_array_equal(outlined[4, 6], colors[2])  # an edge pixel of instance 2
    np.testing.assert_array_equal(outlined[2:4, 2:4], plain[2:4, 2:4])  # interiors keep the class colour
    np.testing.assert_array_equal(outlined[labels == 0], plain[labels == 0])


def test_an_overlay_tints_a_real_class_0_in_its_own_colour_and_leaves_a_background_untinted() -> None:
    """The palette and the overlay read class 0 by the same rule (unetkit.palette.class_zero_is_background):
    CamVid's sky gets a colour and is tinted in it (a black tint only darkened it); a background, or an
    unnamed class 0 (black in the palette), is left as the image shows it; ISBI's membrane (two classes)
    gets a colour in masks but stays untinted, since tinting both classes would hide the image."""
    from unetkit.palette import palette_for
    from unetkit.viz.overlay import untinted_class

    image = np.full((2, 2), 100, np.uint8)
    mask = np.zeros((2, 2), np.int64)
    for names, untinted in (
        (["sky", "building", "road"], None),
        (["background", "cell", "mitosis"], 0),
        (["class_0", "class_1", "class_2"], 0),
        (["class_3", "class_5", "class_9"], 0),  # a remapped mask's generic names
        (["Clutter", "car", "tree"], 0),
        (["sky", "building", "void"], 2),
        (["membrane", "cell"], 0),
    ):
        assert untinted_class(names) == untinted, names
        palette = palette_for(None, len(names), class_names=names)
        out = prediction_overlay(image, mask, palette, 0.5, background=untinted_class(names))
        expected = np.full(3, 100) if untinted == 0 else np.rint((100 + palette[0].astype(float)) / 2)
        np.testing.assert_array_equal(out[0, 0], expected)
        if untinted is None:
            assert tuple(palette[0]) != (0, 0, 0)  # tinted in a colour, never darkened
