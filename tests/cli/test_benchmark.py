"""``unetkit benchmark``: every backend timed and checked on a tiny model, a table and a recommendation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")

from unetkit.cli.main import build_parser, main
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

# Loads OpenVINO in the test process: runs in a pytest process of its own (see tests/conftest.py).
pytestmark = pytest.mark.openvino

KWARGS: dict[str, Any] = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    config = ModelConfig("unet", KWARGS, ["bg", "fg"], [0.5], [0.25])
    return save_model(create_model("unet", **KWARGS), config, tmp_path / "model")


def test_parser_defaults() -> None:
    args = build_parser().parse_args(["benchmark", "m"])
    assert (args.size, args.batch, args.rounds, args.atol) == (512, 4, 5, 1e-4)


def test_benchmark_without_export_times_every_backend(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(tmp_path / "images" / f"{i}.png")
        Image.fromarray(rng.integers(0, 2, (32, 32), dtype=np.uint8)).save(tmp_path / "masks" / f"{i}.png")
    out = tmp_path / "bench.json"
    argv = [
        "benchmark", str(model_dir), "--size", "32", "--batch", "2", "--rounds", "2", "--json", str(out),
        "--val-images", str(tmp_path / "images"), "--val-masks", str(tmp_path / "masks"),
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "input (2, 1, 32, 32): median of 2 interleaved rounds" in printed
    assert "| backend | precision | images/s | megapixels/s | x eager |" in printed
    # Measured on a temporary export: the recommendation says to export first, then how to predict.
    assert ", measured on a temporary export; to run it:" in printed
    assert f"  export first: unetkit export {model_dir} --format " in printed
    assert f"  then: unetkit predict {model_dir / 'export'} INPUT --out DIR --backend " in printed
    assert not (model_dir / "export").exists()  # the fp32 exports went to a temporary folder
    data = json.loads(out.read_text())
    rows = {row["name"]: row for row in data["rows"]}
    assert {"torch-fp32", "onnxruntime-fp32", "openvino-fp32"} <= set(rows)
    assert rows["torch-fp32"]["ratio_to_eager"] == 1.0 and rows["torch-fp32"]["max_logit_diff"] == 0.0
    for name in ("onnxruntime-fp32", "openvino-fp32"):
        assert rows[name]["max_logit_diff"] <= 1e-4 and rows[name]["passes_gate"]
        # A binary model: gated on pixel error, as its metrics report it.
        assert rows[name]["metric"] == "pixel_error" and abs(rows[name]["metric_delta"]) < 1e-9
        assert len(rows[name]["seconds"]) == 2
    best = max((r for r in data["rows"] if r["passes_gate"]), key=lambda r: r["images_per_s"])
    assert data["recommended"] == best["name"]
    assert f"recommendation: {best['backend']} {best['precision']}, " in printed
    assert data["cpu"]["cpu_flags"]


def test_benchmark_rejects_bad_sizes(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", str(model_dir), "--batch", "0"]) == 2
    assert "--batch must be a positive int, got 0" in capsys.readouterr().err


def test_benchmark_refuses_an_export_of_another_model(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """deploy.json records the weights each export was made from: an export of other weights is named,
    not only caught by a logit difference in the table."""
    torch.manual_seed(1)
    config = ModelConfig("unet", KWARGS, ["bg", "fg"], [0.5], [0.25])
    other = save_model(create_model("unet", **KWARGS), config, tmp_path / "other")
    assert main(["export", str(other), "--format", "onnx", "--out", str(tmp_path / "other_export")]) == 0
    assert main(["export", str(model_dir), "--format", "onnx", "--out", str(tmp_path / "own_export")]) == 0
    capsys.readouterr()
    common = ["--size", "32", "--batch", "1", "--rounds", "1"]
    assert main(["benchmark", str(model_dir), "--export", str(tmp_path / "other_export"), *common]) == 2
    err = capsys.readouterr().err
    assert f"other_export was exported from another model than {model_dir}" in err
    assert main(["benchmark", str(model_dir), "--export", str(tmp_path / "own_export"), *common]) == 0
    assert "note:" not in capsys.readouterr().out
    # A side below the padding multiple (2**depth = 4) is timed at the size predict pads it to, and said.
    tiny = ["--size", "3", "--batch", "1", "--rounds", "1"]
    assert main(["benchmark", str(model_dir), "--export", str(tmp_path / "own_export"), *tiny]) == 0
    printed = capsys.readouterr().out
    assert "input (1, 1, 4, 4)" in printed and "note: a 3x3 image reaches the network as 4x4" in printed
