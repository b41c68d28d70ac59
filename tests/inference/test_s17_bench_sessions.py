"""onnxruntime sessions (timed by backend auto and ``unetkit benchmark``, run by predict and serve) stop
their threads' spinning when a run returns: a pool spinning after its run kept cores busy, taken from the
engine timed next (a trial: onnxruntime read 14x eager where 3.5x held)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("onnxruntime")

from unetkit.export.onnx import export_onnx
from unetkit.inference.backends import load_predictor
from unetkit.inference.ort_backend import SPIN_STOP_KEY, OrtPredictor
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
def test_sessions_stop_spinning_when_a_run_returns(onnx_dir: Path, num_threads: int | None) -> None:
    predictor = load_predictor(onnx_dir, backend="onnxruntime", num_threads=num_threads)
    assert isinstance(predictor, OrtPredictor)
    options = predictor.session.get_session_options()
    assert SPIN_STOP_KEY == "session.force_spinning_stop"
    assert options.get_session_config_entry(SPIN_STOP_KEY) == "1"
    # Spinning during a run stays on (turning it off cost up to 1.2x the latency on many cores).
    with pytest.raises(RuntimeError, match="does not have configuration"):  # not set: onnxruntime's default
        options.get_session_config_entry("session.intra_op.allow_spinning")


def test_no_cpu_is_spent_after_a_run_returns(onnx_dir: Path) -> None:
    """The process's CPU time in the 50 ms after a run: a spinning pool spent 40 of 50 ms here."""
    import time

    import numpy as np

    predictor = load_predictor(onnx_dir, backend="onnxruntime", num_threads=2)
    assert isinstance(predictor, OrtPredictor)
    name = predictor.session.get_inputs()[0].name
    x = np.zeros((1, 1, 64, 64), np.float32)
    idle = []
    for _ in range(5):
        predictor.session.run(None, {name: x})
        cpu = time.process_time()
        time.sleep(0.05)
        idle.append(time.process_time() - cpu)
    assert sorted(idle)[2] < 0.005, idle
