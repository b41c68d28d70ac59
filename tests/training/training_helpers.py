"""Helpers shared by the training tests (test_budget.py, test_replay.py, test_detection_replay.py,
test_optim.py, test_fit.py, test_resume_trust.py, the fit_folder tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

# A tiny synthetic run of a few epochs (test_fit.py, test_resume_trust.py).
TINY = [
    "data.options={num_images: 10, size: [40, 40]}",
    "data.crop_size=32",
    "data.batch_size=4",
    "model.kwargs={base_channels: 4, depth: 2}",
    "trainer.progress_bar=false",
    "evaluate.num_figure_samples=2",
    "trainer.num_threads=1",
]

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


def checkpoint_state(run: Path) -> dict[str, torch.Tensor]:
    """Weights, optimizer state (with each param group's LR) and scheduler step of ``run``'s ``last.ckpt``:
    what a replay must reproduce bitwise."""
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    state = dict(ckpt["state_dict"])
    for i, group in enumerate(ckpt["optimizer_states"][0]["param_groups"]):
        state[f"lr.{i}"] = torch.tensor(group["lr"], dtype=torch.float64)
    for key, value in ckpt["optimizer_states"][0]["state"].items():
        state |= {f"opt.{key}.{k}": v for k, v in value.items() if isinstance(v, torch.Tensor)}
    state["global_step"] = torch.tensor(ckpt["global_step"])
    state["scheduler_step"] = torch.tensor(ckpt["lr_schedulers"][0]["last_epoch"])
    return state


def index_mask_folder(root: Path, n: int = 12, binary: bool = False) -> Path:
    """A folder of ``n`` gray 32x32 images with index masks 0..2 (images/, masks/; fit_folder's tests), or
    with ``binary`` 0/255 masks of the same squares (no band of 2)."""
    for i in range(n):
        mask = np.zeros((32, 32), np.uint8)
        mask[4 + i % 8 : 14 + i % 8, 4:14] = 255 if binary else 1
        if not binary:
            mask[20:24, :] = 2
        image = np.random.default_rng(i).integers(40, 200, (32, 32), dtype=np.uint8)
        for sub, array in (("images", image), ("masks", mask)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / sub / f"img{i:02d}.png")
    return root


def all_void_val_folder(root: Path) -> str:
    """A folder of 6 gray 16x16 images whose val masks (4 and 5 of ``split_ranges``) are void (9) everywhere;
    returns the ``data.options`` that read it (2 classes, void 9, train 0-4, val 4-6)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(6):
        Image.fromarray(np.full((16, 16), 100, np.uint8)).save(root / "images" / f"{i}.png")
        mask = np.full((16, 16), 9 if i >= 4 else 0, np.uint8)  # 4, 5 (val): all void
        mask[:8, :8] = 9 if i >= 4 else 1
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    ranges = "{train: [0, 4], val: [4, 6]}"
    return f"{{num_classes: 2, in_channels: 1, ignore_values: [9], split_ranges: {ranges}}}"


def tiny_module(batches: int, val_batches: int = 0, epoch_values: bool = False) -> Any:
    """A one-weight LightningModule: ``batches`` steps an epoch, ``val_batches`` validation steps
    (test_progress_lines.py). ``epoch_values``: as the task logs them, the loss per step and per epoch and a
    validation score that changes by epoch (``val/miou``; else ``val/loss``) (test_s26_fit_lines.py)."""
    import lightning as L

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            loss = (self.w - 1.0).pow(2).sum()
            self.log("train/loss", loss, on_step=True, on_epoch=epoch_values, prog_bar=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            if epoch_values:
                self.log("val/miou", 0.5 + 0.1 * self.current_epoch, prog_bar=True)
            else:
                self.log("val/loss", (self.w - 1.0).pow(2).sum(), prog_bar=True)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self) -> Any:
            return torch.utils.data.DataLoader(torch.zeros(batches, 1), batch_size=1)

        def val_dataloader(self) -> Any:
            return torch.utils.data.DataLoader(torch.zeros(val_batches, 1), batch_size=1)

    return Tiny()
