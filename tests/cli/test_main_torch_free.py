"""``unetkit`` CLI without torch: parser, ``--help``, ``predict --backend onnxruntime`` through ``main``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unetkit.export import export_onnx
from unetkit.inference.predictor import Predictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.models import create_model

SRC = Path(__file__).resolve().parents[2] / "src"
# Prepended to every script: any "import torch" (or "from torch ...") now raises ImportError.
BLOCK_TORCH = 'import sys\nsys.modules["torch"] = None\n'
CHECK_NO_TORCH = textwrap.dedent(
    """
    loaded = [m for m, v in sys.modules.items() if v is not None]
    assert not any(m == "torch" or m.startswith("torch.") for m in loaded), "torch was imported"
    """
)


def run_torch_free(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(script) + CHECK_NO_TORCH],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )


def test_module_help_without_torch() -> None:
    result = run_torch_free(
        """
        import runpy
        sys.argv = ["unetkit", "--help"]
        try:
            runpy.run_module("unetkit.cli.main", run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("usage: unetkit")
    for command in ("fit", "predict", "export", "kmeans", "explain", "demo"):
        assert command in result.stdout


def test_main_predict_onnxruntime_without_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 3, "depth": 2, "base_channels": 4}
    model = create_model("unet", **kwargs).eval()
    config = ModelConfig("unet", kwargs, class_names=["bg", "a", "b"], mean=[0.5], std=[0.25])
    folder = tmp_path / "model"
    export_onnx(model, config, folder, exporter="legacy")  # writes model.onnx + config.json, verified
    image = np.random.default_rng(0).integers(0, 256, (37, 45), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "img.png")
    expected = Predictor(model, config, tile_size=32).predict_probs(image[..., None])  # (3, 37, 45)
    out = tmp_path / "out"
    argv = [
        "predict", str(folder), str(tmp_path / "img.png"), "--out", str(out), "--backend", "onnxruntime",
        "--tile-size", "32", "--probs", "npy", "--quiet",
    ]  # fmt: skip
    result = run_torch_free(
        f"""
        from unetkit.cli.main import build_parser, main

        build_parser().parse_args({argv!r})  # the whole parser, every subcommand registered
        assert main({argv!r}) == 0
        print("OK")
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("OK")
    probs = np.load(out / "probs" / "img.npy").astype(np.float32)
    np.testing.assert_allclose(probs, expected, atol=2e-3)  # float16 on disk
    with Image.open(out / "masks" / "img.png") as mask:
        assert mask.size == (45, 37)
