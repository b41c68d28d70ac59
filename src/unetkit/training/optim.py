"""Optimizer and learning-rate schedule builders from the ``optim`` / ``schedule`` config sections."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from unetkit.options import look_up_option


def build_optimizer(params: Any, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    """AdamW or SGD (momentum, nesterov) from ``{"name", "lr", "weight_decay", "momentum"}``."""
    name = look_up_option(cfg["name"], {"adamw", "adam", "sgd"}, name="optimizer")
    lr, wd = float(cfg["lr"]), float(cfg.get("weight_decay", 0.0))
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    momentum = float(cfg.get("momentum", 0.9))
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd, nesterov=momentum > 0)


def lr_factor(name: str, progress: float, power: float = 0.9) -> float:
    """Base-LR multiplier at ``progress`` in [0, 1] (clamped): cosine to 0, or poly ``(1 - t)^power``."""
    t = min(1.0, max(0.0, progress))
    if name == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return (1.0 - t) ** power


def check_schedule(cfg: dict[str, Any], has_time_budget: bool) -> tuple[str, str]:
    """Validate the ``schedule`` section; returns ``(name, by)``. Raises ValueError naming the fix."""
    name = look_up_option(cfg.get("name") or "none", {"cosine", "poly", "plateau", "none"}, name="schedule")
    by = look_up_option(cfg.get("by") or "epoch", {"epoch", "time"}, name="schedule.by")
    if by == "time" and name == "plateau":
        raise ValueError("schedule.by=time works with schedule.name cosine, poly or none, got 'plateau'.")
    if by == "time" and not has_time_budget:
        raise ValueError(
            "schedule.by=time needs a time budget: set trainer.max_time_minutes (e.g. 19), "
            "or use schedule.by=epoch."
        )
    return name, by


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: dict[str, Any],
    max_epochs: int,
    total_steps: int | None = None,
    budget_fraction: Callable[[], float] | None = None,
) -> dict[str, Any] | None:
    """The ``schedule`` section as a Lightning ``lr_scheduler`` dict: cosine, poly, plateau or none.

    ``warmup_epochs`` ramps linearly from lr/10 (cosine and poly only).

    ``by: epoch`` steps once per epoch over ``max_epochs``. ``by: time`` steps every optimizer step and
    measures progress as ``max(step / total_steps, budget_fraction())``, where ``budget_fraction`` returns
    the share of the wall-clock budget used: a run capped by ``trainer.max_time_minutes`` then finishes its
    decay when the budget ends, on a slow machine or a fast one, instead of being cut at a high LR.
    """
    name, by = check_schedule(cfg, has_time_budget=budget_fraction is not None)
    if name == "none":
        return None
    if name == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=float(cfg.get("factor", 0.5)), patience=int(cfg.get("patience", 5))
        )
        return {"scheduler": sched, "interval": "epoch", "monitor": "val/miou"}
    warmup = int(cfg.get("warmup_epochs", 0))
    power = float(cfg.get("power", 0.9))
    if by == "epoch":
        total = max(1, max_epochs - warmup)

        def per_epoch(epoch: int) -> float:
            if epoch < warmup:
                return 0.1 + 0.9 * epoch / max(1, warmup)
            return lr_factor(name, (epoch - warmup) / total, power)

        return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, per_epoch), "interval": "epoch"}

    if total_steps is None or budget_fraction is None:
        raise ValueError("schedule.by=time needs total_steps and a budget_fraction clock.")  # for mypy
    total_steps = max(1, int(total_steps))
    warmup_steps = round(warmup * total_steps / max(1, max_epochs))
    clock = budget_fraction

    def per_step(step: int) -> float:
        if step < warmup_steps:
            return 0.1 + 0.9 * step / warmup_steps
        by_steps = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return lr_factor(name, max(by_steps, clock()), power)

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, per_step), "interval": "step"}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
