"""The overlay of a wide scene is blended in bands of about OVERLAY_BAND_PIXELS pixels: the same colours,
temporaries of a band (1024 rows of an 8000 px wide 4-band scene held about 600 MB of float32)."""

from __future__ import annotations

import tracemalloc

import numpy as np

from unetkit.viz.overlay import class_palette, overlay


def test_a_wide_4_band_overlay_holds_a_band_of_temporaries_and_the_same_colours() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1200, 3000, 4), dtype=np.uint8)
    mask = rng.integers(0, 3, (1200, 3000))
    palette = class_palette(3)
    tracemalloc.start()
    try:
        out = overlay(image, mask, palette, 0.4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The RGB result (10.3 MiB) and a band's temporaries (~15 MiB); a whole-image RGB copy of the bands
    # would add 10.3 MiB.
    assert peak < out.nbytes + 18 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    np.testing.assert_array_equal(out, overlay(image, mask, palette, 0.4, rows_per_chunk=1))
    np.testing.assert_array_equal(out, overlay(image[..., :3], mask, palette, 0.4))  # bands 1-3 as RGB
