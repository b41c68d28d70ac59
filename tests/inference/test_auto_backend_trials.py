"""Deployment-trial findings on the inference side (onnxruntime only, no OpenVINO in this process): the
engine a prediction runs is logged once, backend auto keys its cache by the model's location (not by how it
was typed), an export folder's missing eager model is said as such, the onnxruntime loader names the export
command, and benchmark's recommendation is a command predict can run."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime")

import unetkit.inference.auto_backend as auto
from unetkit.export.onnx import export_onnx
from unetkit.inference import bench
from unetkit.inference.backends import load_predictor, quiet_engine_lines
from unetkit.inference.ort_backend import OrtPredictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}


def onnx_run(run: Path) -> Path:
    """``run``/model (torch) + ``run``/export (ONNX only: no OpenVINO is loaded) of a tiny U-Net."""
    torch.manual_seed(0)
    model = create_model("unet", **KWARGS).eval()
    config = ModelConfig("unet", KWARGS, ["bg", "fg"], [0.5], [0.25])
    save_model(model, config, run / "model")
    export_onnx(model, config, run / "export", exporter="legacy")
    return run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return onnx_run(tmp_path / "run")


def test_loading_an_engine_logs_what_runs(run_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="unetkit"):
        load_predictor(run_dir / "export", backend="onnxruntime")
        with quiet_engine_lines():  # timing candidates: not what runs
            load_predictor(run_dir / "export", backend="onnxruntime")
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.getMessage().startswith("running ")]
    file = run_dir / "export" / "model.onnx"
    assert lines == [(logging.INFO, f"running onnxruntime fp32 ({file})"), (logging.DEBUG, lines[1][1])]


def test_predict_console_names_the_engine(
    run_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from unetkit.cli.main import main

    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "a.png")
    argv = ["predict", str(run_dir / "export"), str(tmp_path / "a.png"), "--out", str(tmp_path / "p")]
    assert main([*argv, "--backend", "onnxruntime", "--tta", "none"]) == 0
    err = capfd.readouterr().err
    assert f"running onnxruntime fp32 ({run_dir / 'export' / 'model.onnx'})" in err
    # auto names its choice once (it loads the choice through load_predictor, which had named it again).
    assert main([*argv, "--backend", "auto", "--tta", "none"]) == 0
    assert capfd.readouterr().err.count("running ") == 1


@pytest.mark.parametrize("first", ["export/config.json", "export/", "export"])
def test_auto_cache_keys_the_model_location(
    run_dir: Path, first: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(run_dir)
    with caplog.at_level(logging.INFO, logger="unetkit"):
        made = auto.choose(first, size=32, rounds=1)
    assert not made.cached
    assert "; timed on 32x32 px, batch 1" in made.reason  # the size its speed-ups hold for
    # An export folder runs only its exported engines: no torch candidate, no "model folder must contain".
    assert not any("model.safetensors" in r.getMessage() for r in caplog.records)
    for other in ("export/config.json", "export/", "export", "./export", "../run/export"):
        again = auto.choose(other)
        assert again.cached, other
        assert (again.backend, again.precision) == (made.backend, made.precision)


def test_benchmark_of_an_export_folder_says_why_eager_is_missing(run_dir: Path) -> None:
    candidates = bench.list_candidates(run_dir / "export" / "config.json", run_dir / "export")
    _, skipped = bench.build_predictors(candidates)
    assert "an export folder: it runs only the exported engines" in skipped["torch-fp32"]
    assert "model.safetensors" not in skipped["torch-fp32"]


def test_onnxruntime_without_export_names_the_export_command(tmp_path: Path) -> None:
    config = ModelConfig("unet", KWARGS, ["bg", "fg"], [0.5], [0.25])
    run = tmp_path / "run"
    save_model(create_model("unet", **KWARGS), config, run / "model")
    with pytest.raises(FileNotFoundError) as info:
        OrtPredictor(run)
    message = str(info.value)
    assert f"`unetkit export {run} --format onnx`" in message
    assert f"it writes {run / 'export' / 'model.onnx'}" in message


def row(backend: str, precision: str) -> bench.Measurement:
    name = f"{backend}-{precision}"
    return bench.Measurement(name, backend, precision, [1.0], 9.0, 1.0, 9.0, 0.0, True, "test")


def test_recommendation_is_a_command_that_runs_what_was_measured() -> None:
    run, export = Path("RUN"), Path("RUN/export")
    assert bench.predict_commands(row("openvino", "fp32"), run, export) == [
        "unetkit predict RUN/export INPUT --out DIR --backend openvino"
    ]
    assert bench.predict_commands(row("openvino", "bf16"), run, export) == [
        "unetkit predict RUN/export INPUT --out DIR --backend openvino --precision bf16"
    ]
    assert bench.predict_commands(row("openvino", "int8"), run, export) == [
        "unetkit predict RUN/export/int8-openvino INPUT --out DIR --backend openvino"
    ]
    assert bench.predict_commands(row("torch", "fp32"), run, export) == [
        "unetkit predict RUN INPUT --out DIR --backend torch"
    ]
    # Measured on benchmark's temporary export: export first, then predict the folder export writes.
    assert bench.predict_commands(row("onnxruntime", "fp32"), run, None) == [
        "export first: unetkit export RUN --format onnx",
        "then: unetkit predict RUN/export INPUT --out DIR --backend onnxruntime",
    ]


def test_a_choice_timed_on_a_busy_machine_is_said_and_timed_again_when_idle(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: auto timed the engines while a fit ran, picked OpenVINO at 64x, and cached it without a word;
    a minute later, idle, it picked onnxruntime at 6x."""
    monkeypatch.setattr(auto, "busy_load", lambda: (3.0, 2))
    busy = auto.choose(run_dir / "export", size=32, rounds=1)
    assert "the machine was busy while timing (1-minute load 3.0 on 2 CPUs)" in busy.reason
    assert json.loads(auto.cache_path(run_dir / "export").read_text())["busy_load"] == 3.0
    assert auto.choose(run_dir / "export").cached  # still busy: the cached choice stands
    monkeypatch.setattr(auto, "busy_load", lambda: None)
    idle = auto.choose(run_dir / "export", size=32, rounds=1)
    assert not idle.cached and "machine was busy" not in idle.reason  # idle now: timed again
    assert auto.choose(run_dir / "export").cached
