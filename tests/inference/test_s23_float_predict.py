"""Trial 22, H1: ``predictor.predict(raw / 255.0)`` skipped the model's per-image intensity window that
``predict(raw)`` applies (a dark DSB image: 3.1 % foreground against 32.5 %, no warning). A float array in
[0, 1] is now the uint8 array ``round(x * 255)``, so both predict alike for every window kind; against a fixed
window of values deeper than 8 bits it is refused naming the fix. L2: a 2-channel array is named as such."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from unetkit.data.io import per_image_window
from unetkit.inference.predictor import Predictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model


def predictor(window: object = None, in_channels: int = 3) -> Predictor:
    torch.manual_seed(0)
    kwargs = {"in_channels": in_channels, "num_classes": 2, "depth": 2, "base_channels": 4}
    config = ModelConfig("unet", kwargs, ["bg", "fg"], [0.2] * in_channels, [0.25] * in_channels)
    return Predictor(create_model("unet", **kwargs), dataclasses.replace(config, intensity_window=window))


def dark_rgb(seed: int = 0) -> np.ndarray:
    """A dim fluorescence image stored as RGB (values 4..41, as trial 22's)."""
    rng = np.random.default_rng(seed)
    gray = rng.integers(4, 9, (36, 44)).astype(np.uint8)
    gray[6:16, 6:18] = rng.integers(31, 42, (10, 12))
    gray[22:30, 25:37] = rng.integers(20, 30, (8, 12))
    return np.repeat(gray[..., None], 3, axis=2)


WINDOWS = [per_image_window(min_span=10.0), None, [[2.0, 60.0]]]


@pytest.mark.parametrize("window", WINDOWS, ids=["per-image", "none", "fixed-8bit"])
def test_a_float_array_predicts_as_its_uint8_array(window: object) -> None:
    model = predictor(window)
    raw = dark_rgb()
    expected = model.predict_logits(raw)
    for floats in (raw / 255.0, raw.astype(np.float32) / 255):
        np.testing.assert_array_equal(model.model_input(floats), model.model_input(raw))
        np.testing.assert_allclose(model.predict_logits(floats), expected, atol=1e-5)
    np.testing.assert_array_equal(model.predict(raw / 255.0)[0], model.predict(raw)[0])
    if window is not None and isinstance(window, dict):
        # The window stretches this dark image: skipping it (the old float path) gave another input.
        assert int(model.model_input(raw / 255.0).max()) == 255


def test_a_float_array_a_float_tiff_and_the_png_predict_alike(tmp_path: Path) -> None:
    """predict(raw / 255.0), read_image of the float TIFF (unetkit predict, serve) and of the PNG agree; the
    model's own input (read_image's output) as floats is taken as it is, as that uint8 array is."""
    model = predictor(per_image_window(min_span=10.0))
    raw = dark_rgb(1)
    Image.fromarray(raw).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "a.tif", raw.astype(np.float32) / 255, photometric="rgb")
    from_png = model.read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(model.read_image(tmp_path / "a.tif"), from_png)
    np.testing.assert_array_equal(model.model_input(raw / 255.0), from_png)
    np.testing.assert_array_equal(model.model_input(from_png / 255.0), from_png)


def test_a_float_array_for_a_model_of_a_16bit_window_is_refused_naming_the_fix() -> None:
    """Its bit depth is unknown (img_as_float of a uint16 image is x / 65535); it went unwindowed."""
    model = predictor([[3000.0, 13000.0]])
    with pytest.raises(ValueError) as err:
        model.predict(dark_rgb() / 255.0)
    message = str(err.value)
    assert message.startswith("cannot read the float64 image array: floats in [0, 1] are read as 8 bits")
    assert "[3000, 13000]" in message and "predictor.read_image(path)" in message and "\n" not in message
    stored = dark_rgb().astype(np.uint16) * 300  # the stored integers are windowed, as before
    assert model.predict(stored)[0].shape == (36, 44)


def test_a_two_channel_array_is_named_by_its_channels() -> None:
    model = predictor(per_image_window())
    two = dark_rgb()[..., :2]
    with pytest.raises(ValueError, match=r"^the uint8 image array has 2 channels but the model expects 3; "):
        model.predict(two)
    with pytest.raises(ValueError, match=r"^the float64 image array has 2 channels but the model expects 3"):
        model.predict(two / 255.0)
