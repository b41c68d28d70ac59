"""Training learns: a tiny U-Net reaches a high test mIoU on the embedded synthetic data in a small budget.

The other training tests check the run folder and that ``0 <= miou <= 1``, which a model that learns nothing
also passes. This one fails if the loss, the optimizer, the data/target pairing, the augmentation of masks
or the scoring is broken.

Settings: the cheapest found that pass with a margin over 3 seeds (test mIoU 0.934 / 0.909 / 0.931 for
``trainer.seed`` 0 / 1 / 2; this test runs seed 0): 16 images of 64x64, whole-image crops, a U-Net
of base 8 and depth 3, AdamW at lr 0.01, 20 epochs, one thread. About 18 s of CPU time; 20-39 s wall on
the 2-core machine shared with other jobs (hence ``slow``: deselect with ``-m "not slow"`` for a quick run).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from unetkit.cli.main import main as cli_main

LEARNS = [
    "data.options={num_images: 16, size: [64, 64]}",
    "data.crop_size=64",
    "data.batch_size=8",
    "model.kwargs={base_channels: 8, depth: 3}",
    "optim.lr=0.01",
    "trainer.max_epochs=20",
    "trainer.seed=0",
    "trainer.num_threads=1",
    "trainer.progress_bar=false",
    "evaluate.num_figure_samples=1",
]


@pytest.mark.slow
def test_unet_learns_the_synthetic_data(tmp_path: Path) -> None:
    args = ["fit", "--config", "synthetic", *LEARNS, f"output.root={tmp_path}", "output.name=learns"]
    assert cli_main(args) == 0
    metrics = json.loads((tmp_path / "learns" / "metrics_test.json").read_text())
    # An untrained or broken model sits far below (0.2-0.6: background, or background + one shape).
    assert metrics["miou"] > 0.9, metrics
    per_class = [v for k, v in metrics.items() if k.startswith("iou/")]
    assert len(per_class) == 3 and min(per_class) > 0.8, metrics  # every class learnt, not just the large one
    # The generated synthetic data went to the session's temp cache (tests/conftest.py), not ~/.cache/unetkit.
    cache = Path(os.environ["UNETKIT_CACHE"])
    assert cache.is_relative_to(tmp_path.parent), cache  # pytest's base temp dir of this session
    assert list(cache.glob("synthetic-*/test.txt")), "synthetic data were not generated in the temp cache"
