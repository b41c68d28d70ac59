"""Trial 22, H1: a float image in [0, 1] skipped the intensity window (io.to_uint8 windowed integers only), so
a model with a per-image window saw ``raw / 255.0`` unmapped. A float image is now read as its 8-bit reading
``round(x * 255)``, windowed as that 8-bit image is, by every reader (training, predict, serve, the plan's
fingerprint); against a fixed window of values deeper than 8 bits (its scale unknown) it is refused.
Also L2: a 2-channel array was refused as "an alpha channel with transparent pixels"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from unetkit.data.io import (
    deep_bit_depth,
    drop_array_alpha,
    image_from_raw,
    per_image_window,
    read_image,
    to_uint8,
)


def dark(seed: int = 0, size: int = 40, top: int = 41) -> np.ndarray:
    """A dim fluorescence-like gray image: background ~4..8, a few nuclei up to ``top`` (trial 22: 4..41)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(4, 9, (size, size, 1)).astype(np.uint8)
    image[5:15, 5:15] = rng.integers(top - 10, top + 1, (10, 10, 1))
    image[25:33, 20:30] = rng.integers(top - 15, top - 5, (8, 10, 1))
    return image


WINDOWS = [None, per_image_window(min_span=10.0), per_image_window(), [[2.0, 60.0]]]


@pytest.mark.parametrize("window", WINDOWS, ids=["none", "per-image", "per-image-no-span", "fixed-8bit"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_float_image_reads_as_its_8bit_image_through_every_window(window: object, dtype: type) -> None:
    raw = dark()
    expected = to_uint8(raw, "the uint8 image array", window)  # type: ignore[arg-type]
    got = to_uint8(raw.astype(dtype) / 255.0, "the float image array", window)  # type: ignore[arg-type]
    np.testing.assert_array_equal(got, expected)
    if window is not None and isinstance(window, dict):
        # The per-image window stretches this dark image: the old float path (no window) kept it dark.
        assert int(got.max()) == 255 and int(np.rint(raw.max())) < 64


def test_a_float_tiff_reads_as_its_8bit_png_with_the_models_window(tmp_path: Path) -> None:
    """predict (model_image), serve and training (read_image) all read a file through io.image_from_raw."""
    raw = np.concatenate([dark(1), dark(2), dark(3)], axis=2)  # RGB, as DSB stores gray fluorescence
    Image.fromarray(raw).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "a.tif", raw.astype(np.float32) / 255, photometric="rgb")
    window = per_image_window(min_span=8.0)
    from_png = read_image(tmp_path / "a.png", 3, window=window)
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif", 3, window=window), from_png)
    # Converted to gray (a model of 1 channel) after the window, as the PNG is.
    np.testing.assert_array_equal(
        read_image(tmp_path / "a.tif", 1, convert=True, window=window),
        read_image(tmp_path / "a.png", 1, convert=True, window=window),
    )


def test_a_float_image_against_a_deeper_fixed_window_is_refused_naming_the_fix(tmp_path: Path) -> None:
    """A window measured on 16-bit images: a float in [0, 1] may be x / 65535, x / 4095 or an 8-bit image's
    x / 255; it skipped the window silently before, and its 8-bit reading would map to black."""
    window = [[3000.0, 13000.0]]
    floats = dark().astype(np.float32) / 255
    with pytest.raises(ValueError) as err:
        to_uint8(floats, "the float32 image array", window)
    message = str(err.value)
    assert message.startswith("cannot read the float32 image array: floats in [0, 1] are read as 8 bits")
    assert "window [3000, 13000]" in message and "pass the stored integer image instead" in message
    tifffile.imwrite(tmp_path / "f.tif", floats[..., 0])
    with pytest.raises(ValueError, match=r"f\.tif: floats in .*save it as the integers it was recorded in"):
        image_from_raw(floats, tmp_path / "f.tif", window=window)
    with pytest.raises(ValueError, match=r"f\.tif: floats in .*save it as the integers"):
        read_image(tmp_path / "f.tif", 1, window=window)
    # A float image's checks come first, as before: its range and NaN.
    with pytest.raises(ValueError, match=r"float values in \[0.0156863, 2\]"):
        to_uint8(np.where(floats > 0.1, 2.0, floats), "the float32 image array", per_image_window())


def test_float_and_deeper_images_in_one_dataset_are_refused_naming_both() -> None:
    with pytest.raises(ValueError, match=r"images mix bit depths: a\.tif is float, b\.tif is 16-bit; save"):
        deep_bit_depth({0: "a.tif", 16: "b.tif"})
    assert deep_bit_depth({0: "a.tif", 8: "b.png"}) is None  # floats are read as 8 bits


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_two_channels_are_named_as_two_channels_not_a_transparent_alpha(channels: int, dtype: type) -> None:
    """Trial 22, L2: (H, W, 2) in a notebook is two stains far more often than gray + alpha."""
    two = np.random.default_rng(0).integers(0, 200, (9, 7, 2)).astype(dtype)
    name = f"the {np.dtype(dtype)} image array"
    with pytest.raises(ValueError) as err:
        drop_array_alpha(two, channels, name)
    message = str(err.value)
    assert message.startswith(f"{name} has 2 channels but the model expects {channels}; pass one channel")
    assert "transparent" not in message and "\n" not in message
    assert ("np.dstack" in message) == (channels == 3)
    # Gray + an opaque alpha is still gray, as a LA PNG's is.
    opaque = two.copy()
    opaque[..., 1] = 255 if dtype == np.uint8 else 1.0
    np.testing.assert_array_equal(drop_array_alpha(opaque, channels, name), two[..., :1])


def _exposures(root: Path, as_float: bool) -> Path:
    """12 images of differing exposure (DSB 2018's case: a per-image window), as uint8 PNGs or float TIFFs."""
    for i in range(12):
        image = np.full((32, 32), 10, np.uint8)
        image[8:20, 8:20] = 40 + 20 * (i % 6)  # bright ends 40..140: 3.5x apart
        mask = np.zeros((32, 32), np.uint8)
        mask[8:20, 8:20] = 255
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        if as_float:
            tifffile.imwrite(root / "images" / f"img{i:02d}.tif", image.astype(np.float32) / 255)
        else:
            Image.fromarray(image).save(root / "images" / f"img{i:02d}.png")
        Image.fromarray(mask).save(root / "masks" / f"img{i:02d}.png")
    return root


def test_the_plan_of_float_images_is_the_plan_of_their_8bit_images(tmp_path: Path) -> None:
    """The fingerprint measured a float image's exposure spread and min_span on 0..1, so a float copy of a
    DSB-like folder never got the per-image window its 8-bit copy gets (nor its min_span, mean and std)."""
    from unetkit.planning import discover, fingerprint

    eight = fingerprint(discover(_exposures(tmp_path / "png", as_float=False)))
    floats = fingerprint(discover(_exposures(tmp_path / "tif", as_float=True)))
    assert eight.intensity_window == per_image_window(min_span=30.0)
    assert floats.intensity_window == eight.intensity_window
    assert floats.mean == eight.mean and floats.std == eight.std
    assert floats.bit_depth == 0 and eight.bit_depth == 8  # the stored type is still reported as it is
