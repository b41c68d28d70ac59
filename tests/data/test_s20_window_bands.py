"""Mapping stored values to 8 bits runs on bands of rows: the same values, and temporaries of a band, not of
the whole image (a 384 MB 4-band scene took 2.7 GB to read: about three float32 copies at once)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from unetkit.data import io
from unetkit.data.io import apply_window, to_uint8


def whole(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    x = (arr.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def test_the_banded_window_gives_the_values_of_the_whole_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io, "_BAND_VALUES", 100)  # many bands of a small image
    arr = np.random.default_rng(0).integers(0, 65536, (37, 11, 4), dtype=np.uint16)
    np.testing.assert_array_equal(apply_window(arr, [[1000, 40000]]), whole(arr, 1000, 40000))
    floats = np.random.default_rng(1).random((37, 11, 3))
    np.testing.assert_array_equal(
        to_uint8(floats, "x.tif"), np.rint(np.clip(floats, 0.0, 1.0) * 255.0).astype(np.uint8)
    )


@pytest.mark.parametrize("kind", ["window", "float"])
def test_reading_a_large_image_holds_no_float_copy_of_it(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io, "_BAND_VALUES", 1 << 18)  # bands of 1 MB float32 temporaries
    shape = (2000, 1000, 4)  # 8 M values: a float32 copy is 32 MB
    if kind == "window":
        arr = np.full(shape, 30000, dtype=np.uint16)
        read = lambda: apply_window(arr, [[0, 60000]])  # noqa: E731
    else:
        arr = np.full(shape, 0.5, dtype=np.float32)
        read = lambda: to_uint8(arr, "x.tif")  # noqa: E731
    tracemalloc.start()
    try:
        out = read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == shape and out.dtype == np.uint8
    # The uint8 result (8 MB) and a band's temporaries; one float32 copy of the image alone is 32 MB.
    assert peak < out.nbytes + 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"
