"""Trial 26 (16-bit, 2-channel fluorescence): a file's pixels, read for the model (``read_image``,
predict's and serve's reading), go into the model as they are: the per-image window is applied once. A dim
second channel, stretched to the window's min_span, kept no 255s and used most levels below its maximum, so
the histogram rule took the window's output for stored pixels and mapped it again: near black, 0 nuclei of
15. Also: an 8-bit image given to a model whose per-image window is wider than 8 bits is named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tifffile
from tests.inference.test_predictor import make_model

from unetkit.data.io import (
    apply_window,
    is_model_input,
    per_image_window,
    read_image,
    read_raw_image,
    window_mismatch,
)
from unetkit.inference.batch import model_image, predict_files
from unetkit.inference.pipeline import window_output_like
from unetkit.inference.predictor import Predictor

WINDOW = per_image_window(min_span=2308)


def _two_channel(path: Path) -> Path:
    """A 2-channel uint16 TIFF (H, W, 2): a bright stain and a dim one whose 1-99.8 % span is under 2308."""
    rng = np.random.default_rng(5)
    bright = rng.integers(300, 14000, (48, 52))
    dim = rng.integers(300, 1300, (48, 52))
    pixels = np.stack([bright, dim], -1).astype(np.uint16)
    tifffile.imwrite(path, pixels, photometric="minisblack", planarconfig="contig")
    return path


def _predictor() -> Predictor:
    model, config = make_model(num_classes=2, in_channels=2)
    return Predictor(model, dataclasses.replace(config, intensity_window=WINDOW))


def test_the_dim_channel_is_what_fooled_the_histogram_rule(tmp_path: Path) -> None:
    image = read_image(_two_channel(tmp_path / "x.tif"), 2, window=WINDOW)
    assert image[..., 1].max() < 255  # stretched to min_span: no 255s
    assert not window_output_like(np.asarray(image).view(np.ndarray), WINDOW)  # a plain array: misjudged


def test_a_file_read_for_the_model_is_windowed_once(tmp_path: Path) -> None:
    path = _two_channel(tmp_path / "x.tif")
    predictor = _predictor()
    once = apply_window(read_raw_image(path), WINDOW)
    seen: list[np.ndarray] = []
    model_input = predictor.model_input

    def spy(image: np.ndarray) -> np.ndarray:
        seen.append(model_input(image))
        return seen[-1]

    predictor.model_input = spy  # type: ignore[method-assign]
    read = predictor.read_image(path)
    assert is_model_input(read)
    image, _, _ = model_image(read_raw_image(path), path, 2, WINDOW)  # predict's and serve's reading
    assert is_model_input(image)
    for given in (read, read_image(path, 2, window=WINDOW), image):
        predictor.predict(given)
        np.testing.assert_array_equal(seen.pop(), once)
    # predict_files, as `unetkit predict` runs it, gives the model the image windowed once.
    result = predict_files(predictor, [path], tmp_path / "out")
    assert not result.failures and seen
    np.testing.assert_array_equal(seen[-1], once)


def test_a_plain_array_keeps_the_histogram_rule(tmp_path: Path) -> None:
    """Arrays a user made (PIL, skimage) are still judged by their histogram (trial 22's rule)."""
    path = _two_channel(tmp_path / "x.tif")
    predictor = _predictor()
    plain = np.asarray(predictor.read_image(path)).view(np.ndarray).copy()
    np.testing.assert_array_equal(predictor.model_input(plain), apply_window(plain, WINDOW))


def test_an_8_bit_image_against_a_deeper_per_image_window_is_named() -> None:
    eight = np.random.default_rng(1).integers(2, 140, (20, 20, 2), dtype=np.uint8)
    note = window_mismatch(eight, WINDOW)
    assert note is not None and "8-bit" in note and "2308" in note and "16-bit" in note
    assert window_mismatch(eight.astype(np.uint16) * 100, WINDOW) is None  # 16-bit values: fine
    assert window_mismatch(eight, per_image_window(min_span=20)) is None  # an 8-bit model's window
