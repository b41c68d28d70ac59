"""unetkit.data.io's checks of what it is given: images far outside a model's intensity window
(:func:`window_mismatch`), float masks and label images, corrupt or truncated images and masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from unetkit.data.instances import read_label_image
from unetkit.data.io import (
    MaskEncoding,
    image_header,
    read_image,
    read_mask,
    read_raw_image,
    window_mismatch,
)

WINDOW_16BIT = [[0.0, 63182.0]]  # a window measured on 16-bit training images (issue: new-user trial)


def _noise(high: int, shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    """Random values 0..high, both ends present."""
    arr = np.random.default_rng(seed).integers(0, high, shape, endpoint=True).astype(dtype)
    arr.flat[0], arr.flat[-1] = 0, high
    return arr


# ---------------------------------------------------------------------------------------- window_mismatch


def test_an_8bit_image_against_a_16bit_window_is_named_with_its_range_and_the_fix() -> None:
    why = window_mismatch(_noise(255, (32, 32, 1), np.uint8), WINDOW_16BIT)
    assert why is not None and "\n" not in why
    assert "8-bit values 0..255 (uint8)" in why and "intensity window [0, 63182]" in why
    assert "the model sees 0..1 of 0..255" in why
    assert "save the image at the bit depth (and value range) the model was trained on" in why


def test_12bit_data_in_a_uint16_file_against_a_16bit_window_is_named() -> None:
    why = window_mismatch(_noise(4095, (32, 32, 1), np.uint16), WINDOW_16BIT)
    assert why is not None
    assert "values 0..4095 (uint16)" in why and "lower 6.5%" in why and "bit depth" in why
    assert why.endswith("a field that is merely dark or empty needs no fix")  # the rule cannot tell


def test_almost_all_pixels_below_or_above_the_window_are_named() -> None:
    dark = _noise(900, (100, 100, 1), np.uint16)
    dark.flat[:99] = 5000  # 0.99 % inside: still "almost all" below
    why = window_mismatch(dark, [[1000, 60000]])
    assert why is not None and "99.0% of the pixels lie below it" in why
    bright = _noise(1000, (100, 100, 1), np.uint16) + np.uint16(8000)
    why = window_mismatch(bright, [[0, 4095]])
    assert why is not None and "100.0% of the pixels lie above it" in why and "the model sees 255" in why


def test_a_deeper_image_saved_at_full_scale_is_named_when_most_pixels_lie_above_the_window() -> None:
    # A trial: 16-bit data saved as a * 257 (0..65535) on a model windowed on 3000..13200, 97 % above.
    image = _noise(1000, (100, 100, 1), np.uint16)
    image.flat[3000:] += np.uint16(20000)  # 70 % above hi
    why = window_mismatch(image, [[0, 12480]])
    assert why is not None and "70.0% of the pixels lie above it" in why
    image = _noise(1000, (100, 100, 1), np.uint16)
    image.flat[6000:] += np.uint16(20000)  # 40 % above: bright structures, no note
    assert window_mismatch(image, [[0, 12480]]) is None


def test_images_that_fit_their_window_are_not_named() -> None:
    assert window_mismatch(_noise(60000, (32, 32, 1), np.uint16), WINDOW_16BIT) is None
    assert window_mismatch(_noise(255, (32, 32, 3), np.uint8), [[10, 200]]) is None  # an 8-bit window
    # 98 % below lo, 2 % inside and reaching the top: under the 99 % of "almost all".
    mostly_dark = _noise(900, (100, 100, 1), np.uint16)
    mostly_dark.flat[:200] = 60000
    assert window_mismatch(mostly_dark, [[1000, 60000]]) is None
    # No fixed window to miss: none, per-image percentiles, float pixels (read as [0, 1], no window).
    eight = _noise(255, (8, 8, 1), np.uint8)
    assert window_mismatch(eight, None) is None
    assert window_mismatch(eight, {"percentiles": [1.0, 99.8]}) is None
    assert window_mismatch(np.full((8, 8, 1), 0.5, np.float32), WINDOW_16BIT) is None


def test_a_per_channel_window_names_the_channel_that_misses() -> None:
    image = np.stack([_noise(60000, (32, 32), np.uint16), _noise(3000, (32, 32), np.uint16, 1)], axis=2)
    why = window_mismatch(image, [[0, 60000], [0, 60000]])
    assert why is not None and why.startswith("channel 1: values 0..3000 (uint16)")
    assert "intensity window [[0, 60000], [0, 60000]]" in why


# ------------------------------------------------------------------------------------ float masks, labels


@pytest.mark.parametrize("writer", ["pillow", "tifffile"])
def test_a_float_mask_of_whole_numbers_is_read_as_integers(tmp_path: Path, writer: str) -> None:
    classes = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.float32)
    path = tmp_path / "m.tif"
    if writer == "pillow":
        Image.fromarray(classes).save(path)  # Pillow mode 'F'
    else:
        tifffile.imwrite(path, classes.astype(np.float64))
    out = read_mask(path, MaskEncoding("index", 3))
    np.testing.assert_array_equal(out, classes.astype(np.int64))


def test_a_float_label_image_is_read_as_labels_and_found_by_discovery(tmp_path: Path) -> None:
    from unetkit.planning.discovery import detect_encoding

    labels = np.zeros((16, 16), np.float32)
    labels[2:6, 2:6], labels[8:12, 8:12] = 300, 65535  # whole numbers, as ImageJ saves label images
    Image.fromarray(labels).save(tmp_path / "labels.tif")
    np.testing.assert_array_equal(read_label_image(tmp_path / "labels.tif"), labels.astype(np.int32))
    assert detect_encoding([tmp_path / "labels.tif"]).kind == "instances"


@pytest.mark.parametrize(
    ("value", "what"),
    [(0.5, r"non-integer float values \(e\.g\. 0\.5, float32\)"), (np.nan, "non-integer float values"),
     (70000.0, r"float values 0\.\.70000, outside 0\.\.65535"), (-1.0, r"float values -1\.\.0")],
)  # fmt: skip
def test_a_float_mask_that_is_not_whole_numbers_is_refused_in_one_line(
    tmp_path: Path, value: float, what: str
) -> None:
    mask = np.zeros((4, 4), np.float32)
    mask[1, 1] = value
    path = tmp_path / "probs.tif"
    Image.fromarray(mask).save(path)
    pattern = rf"cannot read mask .*probs\.tif: it holds {what}.*save the labels as 8- or 16-bit integers"
    with pytest.raises(ValueError, match=pattern) as caught:
        read_mask(path, MaskEncoding("index", 2))
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=pattern):
        read_label_image(path)


# ---------------------------------------------------------------------------------- corrupt / truncated


def _cut(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_images(tmp_path: Path) -> list[Path]:
    pixels = _noise(255, (128, 128, 3), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "cut.png")
    Image.fromarray(pixels).save(tmp_path / "cut.tif")
    tifffile.imwrite(tmp_path / "cut16.tif", _noise(65535, (128, 128), np.uint16), compression="zlib")
    return [_cut(tmp_path / name) for name in ("cut.png", "cut.tif", "cut16.tif")]


def test_a_truncated_image_says_how_to_fix_it(tmp_path: Path) -> None:
    for path in _truncated_images(tmp_path):
        pattern = (
            rf"cannot read image .*{path.name}: .*the file is corrupt or not an image: re-save it, or remove "
            r"it from the folder \(and its mask, in a training folder\)"
        )
        with pytest.raises(ValueError, match=pattern):
            read_raw_image(path)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"hello, not a TIFF")
    with pytest.raises(ValueError, match=r"cannot read image .*junk\.tif: .*corrupt.*re-save it"):
        image_header(junk)
    with pytest.raises(ValueError, match=r"junk\.tif.*re-save it"):
        read_image(junk)


def test_a_truncated_mask_says_how_to_fix_it_in_one_line(tmp_path: Path) -> None:
    for path in _truncated_images(tmp_path):
        pattern = (
            rf"cannot read mask .*{path.name}: .*the file is corrupt or not an image: re-save it, or remove "
            r"it from the folder \(and its image\)"
        )
        with pytest.raises(ValueError, match=pattern) as caught:
            read_mask(path, MaskEncoding("index", 2))
        assert "\n" not in str(caught.value)


# ------------------------------------------------------------------------------------------ palette masks


def test_an_unknown_palette_colour_names_either_classes_file(tmp_path: Path) -> None:
    # The fix named classes.json to a user whose classes came from classes.csv; read_mask has no path of it.
    arr = np.zeros((2, 2, 3), np.uint8)
    arr[0, 0] = (255, 255, 255)
    Image.fromarray(arr).save(tmp_path / "m.png")
    with pytest.raises(ValueError) as caught:
        read_mask(tmp_path / "m.png", MaskEncoding("palette", 1, colors={0: (0, 0, 0)}))
    assert str(caught.value).endswith(
        "has 1 colour not in the class colour table: (255, 255, 255): 1 px (it lies within x 0..0, y 0..0); "
        "fix the mask, or add each "
        "colour to the classes file (classes.json or classes.csv) as a class or as void (or, where "
        "data.options gives the colours, to colors= or ignore_colors=)"
    )


def test_12bit_data_in_a_uint16_file_for_a_model_trained_on_8bit_images_is_named() -> None:
    """No window: the fixed >> 8 rule reads 0..4095 as 0..15, near black (a trial's predict and serve said
    nothing and answered 99.98 % background)."""
    why = window_mismatch(_noise(4095, (32, 32, 1), np.uint16), None)
    assert why is not None
    assert "read with >> 8 (the model was trained on 8-bit images)" in why and "fewer bits" in why
    assert window_mismatch(_noise(65535, (32, 32, 1), np.uint16), None) is None  # fills the range
    assert window_mismatch(_noise(255, (32, 32, 1), np.uint8), None) is None
