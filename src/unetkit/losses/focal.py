"""Focal loss module."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import nn

from unetkit.constants import IGNORE_INDEX
from unetkit.losses import functional as LF

__all__ = ["FocalLoss"]


class FocalLoss(nn.Module):
    """Multi-class focal loss; see :func:`unetkit.losses.functional.focal_loss`.

    Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017. ``gamma=0, alpha=None`` is cross-entropy.
    A ``weight_map`` passed to ``forward`` is ignored.

    Shape:
        logits (N, C, H, W), target (N, H, W) int64 -> scalar.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        super().__init__()
        self.gamma = LF.check_gamma(gamma)
        checked = LF.check_alpha(alpha)
        self.alpha: float | torch.Tensor | None
        if checked is None or isinstance(checked, float):
            self.alpha = checked
        else:
            self.register_buffer("alpha", torch.as_tensor(checked, dtype=torch.float32))
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
            raise TypeError(f"ignore_index must be an int (e.g. 255), got {ignore_index!r}.")
        self.ignore_index: int = int(ignore_index)

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.focal_loss(logits, target, self.gamma, self.alpha, self.ignore_index)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, ignore_index={self.ignore_index}"
