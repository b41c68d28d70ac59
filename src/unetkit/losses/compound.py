"""Weighted sums of losses (e.g. CE + Dice)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["CombinedLoss"]


class CombinedLoss(nn.Module):
    """``sum_i weight_i * loss_i(logits, target, weight_map)``.

    Args:
        terms: ``[(loss_module, weight), ...]``; every module takes ``(logits, target, weight_map=None)``.

    Example:
        >>> from unetkit.losses import CrossEntropyLoss, DiceLoss
        >>> loss = CombinedLoss([(CrossEntropyLoss(), 1.0), (DiceLoss(num_classes=3), 0.5)])
    """

    def __init__(self, terms: Sequence[tuple[nn.Module, float]]) -> None:
        super().__init__()
        if len(terms) == 0:
            raise ValueError("CombinedLoss needs at least one (loss, weight) term, got an empty list.")
        for loss, weight in terms:
            if not isinstance(loss, nn.Module):
                raise TypeError(f"CombinedLoss terms must be (nn.Module, float), got {type(loss).__name__}.")
            if not (isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0):
                raise ValueError(f"CombinedLoss weights must be finite and >= 0, got {weight!r}.")
        self.losses = nn.ModuleList(loss for loss, _ in terms)
        self.weights: tuple[float, ...] = tuple(float(weight) for _, weight in terms)

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor | None = None
    ) -> torch.Tensor:
        total = torch.zeros((), dtype=logits.dtype, device=logits.device)
        for loss, weight in zip(self.losses, self.weights):
            total = total + weight * loss(logits, target, weight_map)
        return total

    def extra_repr(self) -> str:
        return f"weights={self.weights}"
