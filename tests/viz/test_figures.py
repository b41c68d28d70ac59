"""Run figures: the prediction grid (with ignored pixels) and the training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from unetkit.viz.figures import plot_prediction_grid, plot_training_curves, read_metrics_csv


def test_prediction_grid_accepts_ignored_pixels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (24, 32, 3), dtype=np.uint8) for _ in range(2)]
    targets = [rng.integers(0, 3, (24, 32)) for _ in range(2)]
    targets[0][:4] = 255  # void / ignore pixels (CamVid's class 11 after mapping)
    preds = [rng.integers(0, 3, (24, 32)) for _ in range(2)]
    out = plot_prediction_grid(
        images, targets, preds, ["a", "b", "c"], tmp_path / "grid.png", titles=["x", "y"]
    )
    with Image.open(out) as png:
        assert png.size[0] > 300 and png.size[1] > 300
    assert not list(tmp_path.glob("*.tmp.png"))


def test_training_curves_from_lightning_csv(tmp_path: Path) -> None:
    csv = tmp_path / "metrics.csv"
    csv.write_text(
        "epoch,step,train/loss_epoch,val/loss,val/miou\n0,7,1.5,,\n0,7,,1.4,0.3\n1,15,1.2,,\n1,15,,1.1,0.5\n"
    )
    series = read_metrics_csv(csv)
    assert series["val/miou"] == [(0.0, 0.3), (1.0, 0.5)]
    assert series["train/loss_epoch"] == [(0.0, 1.5), (1.0, 1.2)]
    assert plot_training_curves(csv, tmp_path / "curves.png").is_file()
