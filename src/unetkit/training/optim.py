"""Optimizer and learning-rate schedule builders from the ``optim`` / ``schedule`` config sections.

The sections are checked where they are declared (:mod:`unetkit.training.config`); these builders trust them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from unetkit.training.config import OptimConfig, ScheduleConfig, monitor_mode


def build_optimizer(params: Any, cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW, Adam or SGD (momentum, nesterov) from the ``optim`` section."""
    lr, wd = cfg.lr, cfg.weight_decay
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=wd, nesterov=cfg.momentum > 0)


def lr_factor(name: str, progress: float, power: float = 0.9) -> float:
    """Base-LR multiplier at ``progress`` in [0, 1] (clamped): cosine to 0, or poly ``(1 - t)^power``."""
    t = min(1.0, max(0.0, progress))
    if name == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return (1.0 - t) ** power


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: ScheduleConfig,
    max_epochs: int,
    total_steps: int | None = None,
    budget_fraction: Callable[[], float] | None = None,
    monitor: str = "val/miou",
) -> dict[str, Any] | None:
    """The ``schedule`` section as a Lightning ``lr_scheduler`` dict: cosine, poly, plateau or none.

    ``warmup_epochs`` ramps linearly from lr/10 (cosine and poly only). ``plateau`` lowers the LR when
    ``monitor`` (``trainer.monitor``) stops improving: falling for losses/errors, rising for scores.

    ``by: epoch`` steps once per epoch over ``max_epochs``. ``by: time`` steps every optimizer step and
    measures progress as ``max(step / total_steps, budget_fraction())``, where ``budget_fraction`` returns
    the share of the wall-clock budget used: a run capped by ``trainer.max_time_minutes`` then finishes its
    decay when the budget ends, on a slow machine or a fast one, instead of being cut at a high LR. The
    clock is read once per optimizer step (:meth:`SegmentationTask.budget_fraction
    <unetkit.training.task.SegmentationTask.budget_fraction>` records it, and answers from the record in
    ``unetkit fit --replay``).
    """
    name, warmup, power = cfg.name, cfg.warmup_epochs, cfg.power
    if name == "none":
        return None
    if name == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=monitor_mode(monitor), factor=cfg.factor, patience=cfg.patience
        )
        return {"scheduler": sched, "interval": "epoch", "monitor": monitor}
    if cfg.by == "epoch":
        total = max(1, max_epochs - warmup)

        def per_epoch(epoch: int) -> float:
            if epoch < warmup:
                return 0.1 + 0.9 * epoch / max(1, warmup)
            return lr_factor(name, (epoch - warmup) / total, power)

        return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, per_epoch), "interval": "epoch"}

    if total_steps is None or budget_fraction is None:
        raise ValueError(
            "schedule.by=time needs total_steps and a budget_fraction clock: set trainer.max_time_minutes."
        )
    total_steps = max(1, int(total_steps))
    warmup_steps = round(warmup * total_steps / max(1, max_epochs))
    clock = budget_fraction

    def per_step(step: int) -> float:
        if step < warmup_steps:
            return 0.1 + 0.9 * step / warmup_steps
        by_steps = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return lr_factor(name, max(by_steps, clock()), power)

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, per_step), "interval": "step"}
