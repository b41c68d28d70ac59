"""Trial 17, finding 10: the Python API's input messages (an empty TTA subset, a transparent alpha)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from unetkit.inference.predictor import Predictor
from unetkit.inference.tta import resolve_tta
from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model


def tiny_predictor(in_channels: int = 3, **options: object) -> Predictor:
    torch.manual_seed(0)
    kwargs = {"in_channels": in_channels, "num_classes": 2, "depth": 2, "base_channels": 4}
    config = ModelConfig(
        architecture="unet",
        model_kwargs=kwargs,
        class_names=["bg", "fg"],
        mean=[0.5] * in_channels,
        std=[0.25] * in_channels,
    )
    return Predictor(create_model("unet", **kwargs), config, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("tta", [(), [], "", ","])
def test_empty_tta_subset_says_how_to_switch_tta_off(tta: object) -> None:
    with pytest.raises(ValueError, match="tta subset is empty") as err:
        tiny_predictor(tta=tta)
    message = str(err.value)
    assert "tta=False" in message and "'none'" in message, message
    assert repr(tta) in message, message  # the value given is named


def test_the_ways_to_switch_tta_off_named_by_the_message_work() -> None:
    assert resolve_tta(False) == () and resolve_tta("none") == ()


def test_transparent_pil_alpha_message_names_the_image_once() -> None:
    rgba = np.full((16, 16, 4), 200, dtype=np.uint8)
    rgba[0, 0, 3] = 100  # one half-transparent pixel
    with pytest.raises(ValueError) as err:
        tiny_predictor().predict(Image.fromarray(rgba, "RGBA"))
    message = str(err.value)
    assert message.startswith("the PIL image has an alpha channel with transparent pixels"), message
    assert "image the" not in message, message
