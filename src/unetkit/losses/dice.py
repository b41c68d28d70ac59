"""Soft Dice loss module."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from unetkit.constants import IGNORE_INDEX
from unetkit.losses import functional as LF
from unetkit.options import look_up_option

__all__ = ["DiceLoss"]


class DiceLoss(nn.Module):
    """Multi-class soft Dice loss over the batch; see :func:`unetkit.losses.functional.soft_dice_loss`.

    Milletari et al., "V-Net", 3DV 2016. ``classes_absent`` states how classes missing from a batch's target
    are averaged (default ``"exclude"``: they are left out of the mean). A ``weight_map`` passed to
    ``forward`` is accepted for a uniform interface and ignored (Dice is a set overlap, not a pixel sum).

    Shape:
        logits (N, C, H, W), target (N, H, W) int64 -> scalar.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = IGNORE_INDEX,
        smooth: float = 1.0,
        classes_absent: Literal["exclude", "include"] = "exclude",
    ) -> None:
        super().__init__()
        self.num_classes = LF.check_num_classes(num_classes)
        self.ignore_index = ignore_index
        self.smooth = smooth
        self.classes_absent: Literal["exclude", "include"] = look_up_option(  # type: ignore[assignment]
            classes_absent, ("exclude", "include"), "classes_absent"
        )

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.soft_dice_loss(
            logits, target, self.num_classes, self.ignore_index, self.smooth, self.classes_absent
        )

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, smooth={self.smooth}, classes_absent={self.classes_absent!r}"
