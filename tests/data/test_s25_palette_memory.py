"""A colour (palette) mask decodes through one look-up per pixel: a GIS trial's 75-megapixel ground truth
took about 20 bytes a pixel more through np.unique's sort. Same classes, same errors."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetkit.data.io import MaskEncoding, read_mask

COLOURS = {0: (0, 0, 0), 1: (128, 64, 128), 2: (250, 170, 30)}


def test_a_large_colour_mask_decodes_in_a_few_bytes_a_pixel(tmp_path: Path) -> None:
    side = 3000
    classes = np.random.default_rng(0).integers(0, 3, (side, side))
    rgb = np.array(list(COLOURS.values()), np.uint8)[classes]
    rgb[:10, :10] = (9, 9, 9)  # void
    Image.fromarray(rgb).save(tmp_path / "m.png", compress_level=1)
    encoding = MaskEncoding("palette", 3, colors=COLOURS, ignore_colors=((9, 9, 9),))
    tracemalloc.start()
    try:
        out = read_mask(tmp_path / "m.png", encoding)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    expected = classes.copy()
    expected[:10, :10] = 255
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.int64
    # The RGB file (3), its packed colours (4), the looked-up classes (2) and the int64 result (8) a pixel,
    # and the 32 MB table: the sort's copies, indices and inverse were about 20 more.
    pixels = side * side
    assert peak < 20 * pixels + 40 * 2**20, f"{peak / pixels:.1f} bytes a pixel"


def test_an_unknown_colour_still_names_itself(tmp_path: Path) -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[2:4, 2:4] = (255, 0, 255)
    Image.fromarray(rgb).save(tmp_path / "m.png")
    with pytest.raises(ValueError, match=r"\(255, 0, 255\): 4 px"):
        read_mask(tmp_path / "m.png", MaskEncoding("palette", 3, colors=COLOURS))
