"""onnxruntime sessions (timed by backend auto and ``unetkit benchmark``, run by predict and serve) do not
spin their idle threads: a spinning pool kept a core busy after each run, taken from the engine timed next
(a trial: onnxruntime read 14x eager where 3.5x held)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("onnxruntime")

from unetkit.export.onnx import export_onnx
from unetkit.inference.backends import load_predictor
from unetkit.inference.ort_backend import SPINNING_KEY, OrtPredictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model

KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = ModelConfig("unet", KWARGS, ["bg", "fg"], [0.5], [0.25])
    out = tmp_path_factory.mktemp("s17_sessions") / "export"
    export_onnx(create_model("unet", **KWARGS).eval(), config, out, exporter="legacy")
    return out


@pytest.mark.parametrize("num_threads", [None, 1])
def test_sessions_are_built_with_spinning_off(onnx_dir: Path, num_threads: int | None) -> None:
    predictor = load_predictor(onnx_dir, backend="onnxruntime", num_threads=num_threads)
    assert isinstance(predictor, OrtPredictor)
    options = predictor.session.get_session_options()
    assert SPINNING_KEY == "session.intra_op.allow_spinning"
    assert options.get_session_config_entry(SPINNING_KEY) == "0"
