"""A net that pads its own input states its pad multiple in its geometry, and the pipeline and the exporters
read that one rule: a 6-stage FCN (pads to 64, not the 32 a U-Net-depth default assumed) exports and runs
through onnxruntime on images smaller than 64 px."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from unetkit.export import export_onnx
from unetkit.inference.backends import load_predictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

SIX_STAGES: dict[str, Any] = {
    "in_channels": 1,
    "num_classes": 2,
    "encoder_channels": (4, 4, 4, 8, 8, 8),
    "convs_per_stage": (1, 1, 1, 1, 1, 1),
    "head_channels": 8,
}


@pytest.fixture(scope="module")
def six_stage_fcn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fcn6")
    torch.manual_seed(0)
    model = create_model("fcn32s", **SIX_STAGES).eval()
    config = ModelConfig("fcn32s", SIX_STAGES, ["background", "cell"], [0.5], [0.25])
    save_model(model, config, folder)
    # Legacy exporter pinned: exporter="auto" would fall back to dynamo (~30 s) on a failure.
    export_onnx(model, config, folder / "export", exporter="legacy")
    return folder


def test_six_stage_fcn_states_its_pad_multiple() -> None:
    model = create_model("fcn32s", **SIX_STAGES)
    assert model.geometry().pad_multiple == 64 == model.pad_multiple
    assert model.geometry().min_pass_side == 64
    assert create_model("unet", in_channels=1, num_classes=2, depth=3).geometry().pad_multiple == 8


def test_six_stage_fcn_export_round_trip(six_stage_fcn: Path) -> None:
    geometry = json.loads((six_stage_fcn / "export" / "config.json").read_text())["geometry"]
    assert (geometry["pad_multiple"], geometry["min_side"]) == (64, 64)
    ort = load_predictor(six_stage_fcn / "export", backend="onnxruntime")
    eager = load_predictor(six_stage_fcn, backend="torch")
    assert ort.min_pass_side == eager.min_pass_side == 64
    for size in ((40, 33), (70, 90)):  # below the pad multiple, and above it (not a multiple)
        image = np.random.default_rng(0).integers(0, 256, size=size, dtype=np.uint8)
        mask, probs = ort.predict(image)
        _, eager_probs = eager.predict(image)
        assert mask.shape == size and probs.shape == (2, *size)
        np.testing.assert_allclose(probs, eager_probs, atol=1e-4)
