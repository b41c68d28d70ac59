"""predict's refusals of the inputs a hurried notebook user passes say what it takes (trial 22, L4): a
list of arrays (one image per call), a batch of one (pass image[0]), a path or another object (the types it
takes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unetkit.inference.predictor import Predictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    return Predictor(create_model("unet", **kwargs), ModelConfig("unet", kwargs, ["bg", "fg"], [0.5], [0.25]))


def test_a_list_is_asked_one_image_at_a_time(predictor: Predictor) -> None:
    images = [np.zeros((16, 16), np.uint8)] * 2
    with pytest.raises(
        TypeError, match=r"\(H, W\) or \(H, W, C\) or a PIL image, got list \(predict takes one"
    ):
        predictor.predict(images)  # type: ignore[arg-type]


def test_a_path_names_read_image(predictor: Predictor) -> None:
    with pytest.raises(TypeError, match=r"got str; .*predictor\.read_image\(path\)") as info:
        predictor.predict("img.png")  # type: ignore[arg-type]
    assert "one image" not in str(info.value)


def test_a_batch_of_one_is_asked_for_image_0(predictor: Predictor) -> None:
    with pytest.raises(
        ValueError, match=r"got shape \(1, 16, 16, 1\); predict takes one image: pass image\[0\]"
    ):
        predictor.predict(np.zeros((1, 16, 16, 1), np.uint8))
    with pytest.raises(ValueError, match=r"got shape \(16,\)\.$"):
        predictor.predict(np.zeros(16, np.uint8))
