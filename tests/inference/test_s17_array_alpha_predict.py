"""Trial 17, finding 10: a predictor takes an image array's alpha as it takes a file's or a PIL image's: a
uint8 (H, W, 4) array with an opaque alpha was refused while the same pixels as a PNG were accepted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unetkit.inference.predictor import Predictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model


def predictor(in_channels: int) -> Predictor:
    torch.manual_seed(0)
    kwargs = {"in_channels": in_channels, "num_classes": 2, "depth": 2, "base_channels": 4}
    config = ModelConfig("unet", kwargs, ["bg", "fg"], [0.5] * in_channels, [0.25] * in_channels)
    return Predictor(create_model("unet", **kwargs), config)


def rgba(alpha: int = 255) -> np.ndarray:
    image = np.random.default_rng(0).integers(0, 256, (20, 24, 4), dtype=np.uint8)
    image[..., 3] = 255
    image[5, 6, 3] = alpha
    return image


@pytest.mark.parametrize("in_channels", [3, 1])
def test_opaque_alpha_array_is_taken_as_its_png_is(tmp_path: Path, in_channels: int) -> None:
    model = predictor(in_channels)
    image = rgba()
    Image.fromarray(image, "RGBA").save(tmp_path / "a.png")
    from_file = model.predict_logits(model.read_image(tmp_path / "a.png"))
    np.testing.assert_allclose(model.predict_logits(image), from_file, atol=1e-5)
    np.testing.assert_allclose(model.predict_logits(Image.fromarray(image, "RGBA")), from_file, atol=1e-5)
    np.testing.assert_allclose(model.predict_logits(image.astype(np.float32) / 255), from_file, atol=1e-5)


def test_half_transparent_alpha_array_is_refused_as_its_png_is(tmp_path: Path) -> None:
    model = predictor(3)
    image = rgba(alpha=128)
    Image.fromarray(image, "RGBA").save(tmp_path / "a.png")
    with pytest.raises(ValueError) as from_file:
        model.read_image(tmp_path / "a.png")
    with pytest.raises(ValueError) as from_array:
        model.predict(image)
    message = str(from_array.value)
    assert message.startswith("the uint8 image array has an alpha channel with transparent pixels"), message
    assert message == str(from_file.value).replace(f"image {tmp_path / 'a.png'}", "the uint8 image array")


def test_a_four_channel_model_reads_the_fourth_channel_as_data() -> None:
    model = predictor(4)
    image = rgba(alpha=0)  # a transparent "alpha" is a data channel for this model
    assert model.predict_logits(image).shape == (2, 20, 24)
