"""``unetkit benchmark`` says when the machine was busy while it timed (a trial: no word at load 3.2 on 2
CPUs, where backend auto's auto_backend.json said it), read as backend auto reads it
(``auto_backend.busy_load``: :func:`unetkit.devices.busy_load`); and both time the engines by one rule
(:func:`bench.time_interleaved`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("onnxruntime")

import unetkit.inference.auto_backend as auto
from unetkit.cli.main import main
from unetkit.export.onnx import export_onnx
from unetkit.inference import bench
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A model folder with an ONNX export only (eager PyTorch and onnxruntime to time: no OpenVINO)."""
    torch.manual_seed(0)
    model = create_model("unet", **KWARGS).eval()
    config = ModelConfig("unet", KWARGS, ["bg", "fg"], [0.5], [0.25])
    folder = save_model(model, config, tmp_path / "model")
    export_onnx(model, config, folder / "export", exporter="legacy")
    return folder


def benchmark(model_dir: Path, out: Path) -> None:
    argv = ["benchmark", str(model_dir), "--size", "32", "--batch", "1", "--rounds", "1", "--json", str(out)]
    assert main(argv) == 0


def test_benchmark_says_the_machine_was_busy(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(auto, "busy_load", lambda: (3.2, 2))
    benchmark(model_dir, tmp_path / "busy.json")
    printed = capsys.readouterr().out
    assert (
        "note: the machine was busy while timing (1-minute load 3.2 on 2 CPUs), so the ranking may not hold; "
        "benchmark again when the machine is idle"
    ) in printed
    assert json.loads((tmp_path / "busy.json").read_text())["busy_load"] == 3.2

    monkeypatch.setattr(auto, "busy_load", lambda: None)
    benchmark(model_dir, tmp_path / "idle.json")
    assert "machine was busy" not in capsys.readouterr().out
    assert json.loads((tmp_path / "idle.json").read_text())["busy_load"] is None


def test_benchmark_and_backend_auto_time_by_one_rule(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timed: list[list[str]] = []
    real = bench.time_interleaved

    def recording(fns: Any, *args: Any, **kwargs: Any) -> Any:
        timed.append(sorted(fns))
        return real(fns, *args, **kwargs)

    monkeypatch.setattr(bench, "time_interleaved", recording)
    monkeypatch.setattr(auto, "busy_load", lambda: None)
    benchmark(model_dir, model_dir / "bench.json")
    auto.choose(model_dir, size=32, rounds=1)
    assert timed == [["onnxruntime-fp32", "torch-fp32"]] * 2
