"""An image of another channel count than a 4-band model is refused as that, by predict and for arrays, not
as a count of the model's intensity-window pairs (trial 19: advice for a config author at predict time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from unetkit.geometry import ModelGeometry
from unetkit.inference.batch import model_image
from unetkit.inference.pipeline import BasePredictor
from unetkit.model_files.model_config import ModelConfig

WINDOW = [[0, 4000]] * 4  # one [lo, hi] per band of a 4-band (R, G, B, NIR) model


def test_a_3_band_file_for_a_4_band_model_is_refused_naming_both_counts(tmp_path: Path) -> None:
    path = tmp_path / "tile.tif"
    tifffile.imwrite(path, np.zeros((8, 8, 3), dtype=np.uint16), photometric="rgb")
    with pytest.raises(ValueError) as err:
        model_image(tifffile.imread(path), path, 4, WINDOW)
    message = str(err.value)
    assert "tile.tif has 3 channels (RGB) but the model expects 4 channels" in message
    assert "pairs" not in message and "\n" not in message


def test_a_3_band_array_for_a_4_band_model_is_refused_naming_both_counts() -> None:
    config = ModelConfig(
        architecture="unet",
        model_kwargs={"in_channels": 4, "num_classes": 2, "depth": 2},
        class_names=["a", "b"],
        mean=[0.5] * 4,
        std=[0.25] * 4,
        intensity_window=WINDOW,
    )
    predictor = BasePredictor(config, ModelGeometry())
    with pytest.raises(ValueError, match=r"image has 3 channels but the model expects 4") as err:
        predictor.preprocess(np.zeros((8, 8, 3), dtype=np.uint16))
    assert "pairs" not in str(err.value)
