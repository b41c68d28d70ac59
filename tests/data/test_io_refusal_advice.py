"""The advice in read_image's refusals is advice that works: a float image outside [0, 1] may be saved as
16-bit integers, and an image whose channel count differs from the model's is refused as that, not as a
window of the wrong size (trial reports)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from unetkit.data.io import estimate_window, read_image


def test_a_float_image_outside_0_1_is_told_it_may_be_saved_as_16_bit(tmp_path: Path) -> None:
    values = np.linspace(0.0, 2.0, 64, dtype=np.float32).reshape(8, 8)
    floats = tmp_path / "floats.tif"
    tifffile.imwrite(floats, values)
    with pytest.raises(ValueError, match=r"floats\.tif.*save it as 8- or 16-bit integers") as info:
        read_image(floats)
    assert "\n" not in str(info.value)
    # The advice holds: the same values as 16-bit integers are read, through the window training measures,
    # and keep more than 8 bits' worth of their gradations until the window maps them.
    deep = tmp_path / "deep.tif"
    tifffile.imwrite(deep, np.rint(values * 30000).astype(np.uint16))
    image = read_image(deep, window=estimate_window([deep]))
    assert image.dtype == np.uint8 and image.shape == (8, 8, 1) and len(np.unique(image)) > 32


def test_an_image_of_other_channels_than_the_model_is_refused_as_that_not_as_a_window(tmp_path: Path) -> None:
    # A 4-channel model keeps one [lo, hi] per channel: a 3-channel image is the wrong image, not a window
    # with the wrong number of pairs (the window came from the trained model, not from the user).
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((8, 8, 3), np.uint16), photometric="rgb")
    with pytest.raises(ValueError) as info:
        read_image(rgb, 4, window=[[0, 4000]] * 4)
    assert str(info.value) == (
        f"{rgb} has 3 channels but the model expects 4; save the image with 4 channels, or when training, "
        "set in_channels=3"
    )
