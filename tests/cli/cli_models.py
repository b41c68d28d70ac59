"""Tiny models and inputs that several CLI test files build (pytest puts this folder on sys.path, as
tests/serve/serve_helpers.py is found): one copy instead of one per file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from unetkit.cli import export as export_cli
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

# A wide_cnn of 1 channel in, 2 classes out: exports in a second.
WIDE_CNN_KWARGS: dict[str, Any] = {
    "in_channels": 1, "num_classes": 2, "channels": (4, 8), "kernel_sizes": (7, 5),
}  # fmt: skip


def tiny_unet(folder: Path, extra: dict | None = None) -> Path:
    """A seeded depth-2, base-4 gray U-Net of classes bg/cell saved in ``folder``."""
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    config = ModelConfig("unet", kwargs, ["bg", "cell"], [0.5], [0.25], extra=extra or {})
    return save_model(create_model("unet", **kwargs), config, folder)


def three_images(folder: Path) -> Path:
    """``folder`` with a.png, b.png, c.png: gray noise of three sizes, each with a bright square."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, shape in (("a", (24, 30)), ("b", (24, 40)), ("c", (20, 20))):
        image = rng.integers(0, 60, size=shape, dtype=np.uint8)
        image[4:12, 4:12] = 240
        Image.fromarray(image).save(folder / f"{name}.png")
    return folder


def wide_cnn_run(root: Path) -> Path:
    """``root/run/model``: a :data:`WIDE_CNN_KWARGS` model saved as a run's model folder."""
    config = ModelConfig("wide_cnn", WIDE_CNN_KWARGS, ["background", "cell"], [0.5], [0.25])
    return save_model(create_model("wide_cnn", **WIDE_CNN_KWARGS), config, root / "run" / "model")


def export_parser() -> argparse.ArgumentParser:
    """A parser holding only ``unetkit export``."""
    root = argparse.ArgumentParser(prog="unetkit")
    export_cli.register(root.add_subparsers(dest="command", required=True))
    return root


def predict_two_squares(monkeypatch: Any) -> None:
    """The torch predictor's scores, whatever the model: class 1 in two 6x6 squares (rows and columns 2..7
    and the last 8..3 of each side), class 0 elsewhere: two instances, where an untrained model finds none."""
    from unetkit.inference import predictor as torch_predictor

    original = torch_predictor.Predictor._predict_batch

    def two_squares(self: torch_predictor.Predictor, batch: np.ndarray) -> np.ndarray:
        scores = np.zeros_like(original(self, batch))  # (N, C, H, W)
        scores[:, 0] = 1.0
        scores[:, :, 2:8, 2:8] = scores[:, :, -8:-2, -8:-2] = [[[0.0]], [[1.0]]]
        return scores

    monkeypatch.setattr(torch_predictor.Predictor, "_predict_batch", two_squares)
