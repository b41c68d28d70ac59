"""Optimizer and learning-rate schedule builders from the ``optim`` / ``schedule`` config sections."""

from __future__ import annotations

import math
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


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: dict[str, Any], max_epochs: int
) -> dict[str, Any] | None:
    """Per-epoch schedule as a Lightning ``lr_scheduler`` dict: cosine, poly, plateau or none.

    ``warmup_epochs`` ramps linearly from lr/10 (cosine and poly only).
    """
    name = look_up_option(cfg.get("name") or "none", {"cosine", "poly", "plateau", "none"}, name="schedule")
    if name == "none":
        return None
    if name == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=float(cfg.get("factor", 0.5)), patience=int(cfg.get("patience", 5))
        )
        return {"scheduler": sched, "interval": "epoch", "monitor": "val/miou"}
    warmup = int(cfg.get("warmup_epochs", 0))
    power = float(cfg.get("power", 0.9))
    total = max(1, max_epochs - warmup)

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return 0.1 + 0.9 * epoch / max(1, warmup)
        t = min(1.0, (epoch - warmup) / total)
        if name == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * t))
        return (1.0 - t) ** power

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "epoch"}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
