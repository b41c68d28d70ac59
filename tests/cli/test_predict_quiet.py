"""``predict -q`` silences the INFO log lines (backend auto's choice), not warnings or the summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime")

from unetkit.cli.main import main
from unetkit.export.onnx import export_onnx
from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model


def test_quiet_silences_the_auto_backend_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kwargs = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    model = create_model("unet", **kwargs).eval()
    config = ModelConfig("unet", kwargs, ["bg", "fg"], [0.5], [0.25])
    export_onnx(model, config, tmp_path / "export", exporter="legacy")
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(tmp_path / "img.png")
    argv = ["predict", str(tmp_path / "export" / "model.onnx"), str(tmp_path / "img.png")]
    assert main([*argv, "--out", str(tmp_path / "loud")]) == 0
    assert "backend auto -> onnxruntime fp32" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "quiet"), "-q"]) == 0
    captured = capsys.readouterr()
    assert "backend auto" not in captured.err and "INFO" not in captured.err
    assert "1 image(s) segmented, 0 failed" in captured.out
