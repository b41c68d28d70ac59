"""The instance predictor's docstrings say which images it takes (trial 22, L4: the class docstring said
``predict_instances(image uint8 (H, W, C))`` while a semantic model's takes what its ``predict`` takes)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from PIL import Image

from unetkit.inference.instance_predictor import (
    InstancePredictor,
    SemanticInstancePredictor,
    load_instance_predictor,
)
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model


def test_the_docstrings_name_every_accepted_input() -> None:
    doc = inspect.getdoc(InstancePredictor) or ""
    assert "uint8 (H, W, C)" not in doc.splitlines()[0]
    for form in ("(H, W)", "uint16", "float in [0, 1]", "bool", "PIL image", "Mask R-CNN"):
        assert form in doc, form
    assert "PIL image" in (inspect.getdoc(SemanticInstancePredictor.predict) or "")
    assert "uint8" not in (inspect.getdoc(InstancePredictor.predict_instances) or "")


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> InstancePredictor:
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    config = ModelConfig("unet", kwargs, ["background", "cell"], [0.5], [0.25])
    folder = save_model(create_model("unet", **kwargs), config, tmp_path_factory.mktemp("s23") / "model")
    return load_instance_predictor(folder, "components", device="cpu")


def test_what_the_docstring_names_is_taken(predictor: InstancePredictor) -> None:
    gray = np.zeros((20, 24), np.uint8)
    gray[4:12, 5:14] = 230
    expected, _ = predictor.predict_instances(gray)
    forms = {
        "(H, W, 1)": gray[..., None],
        "float in [0, 1]": gray / 255.0,
        "PIL image": Image.fromarray(gray),
    }
    for name, image in forms.items():  # the same pixels as the model reads them: the same labels
        labels, _ = predictor.predict_instances(image)  # type: ignore[arg-type]
        assert labels.dtype == np.int32, name
        np.testing.assert_array_equal(labels, expected, err_msg=name)
    for other in (gray > 0, gray.astype(np.uint16) * 257):  # other pixel values: taken, not refused
        labels, _ = predictor.predict_instances(other)
        assert labels.shape == gray.shape and labels.dtype == np.int32
