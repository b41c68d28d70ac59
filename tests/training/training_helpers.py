"""Helpers shared by the training tests (test_budget.py, test_replay.py, test_optim.py, test_fit.py)."""

from __future__ import annotations

from typing import Any

# A tiny synthetic run whose LR is paced by the clock (poly decay over the budget, max_epochs out of reach):
# a time budget (trainer.max_time_minutes) is what stops it.
TIME_PACED = [
    "data.options={num_images: 12, size: [40, 40]}",
    "data.crop_size=32",
    "data.batch_size=2",
    "model.kwargs={base_channels: 4, depth: 2}",
    "trainer.progress_bar=false",
    "trainer.num_threads=1",
    "trainer.log_every_n_steps=1",
    "trainer.max_epochs=100000",
    "schedule={name: poly, by: time, power: 1.0}",
    "evaluate.split=val",
    "evaluate.checkpoint=best",
    "evaluate.num_figure_samples=1",
]


def tiny_model_config() -> dict[str, Any]:
    """The model_config of a SegmentationTask built without a dataset (a one-level, 4-channel U-Net)."""
    return {
        "architecture": "unet",
        "model_kwargs": {"in_channels": 1, "num_classes": 2, "depth": 1, "base_channels": 4},
        "class_names": ["a", "b"],
        "mean": [0.0],
        "std": [1.0],
    }
