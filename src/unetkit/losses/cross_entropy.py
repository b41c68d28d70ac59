"""Cross-entropy loss module (optionally pixel-weighted with the U-Net paper's weight map)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from unetkit.constants import IGNORE_INDEX
from unetkit.losses import functional as LF

__all__ = ["CrossEntropyLoss"]


class CrossEntropyLoss(nn.Module):
    """Mean cross-entropy over valid pixels; pixel-weighted when a ``weight_map`` is passed to ``forward``.

    Without a weight map this is ``F.cross_entropy(weight=class_weights, ignore_index=ignore_index)``. With
    one it is :func:`unetkit.losses.functional.weighted_cross_entropy` (the U-Net paper's energy, eq. 1).

    Args:
        class_weights: optional per-class weights (length C).
        ignore_index: target value to skip.
        require_weight_map: raise if ``forward`` gets no weight map (the ``"weighted_ce"`` loss).
        normalization: how the weighted sum is normalised, ``"mean"`` or ``"weight_sum"`` (see the function).

    Shape:
        logits (N, C, H, W), target (N, H, W) int64, weight_map (N, H, W) float -> scalar.
    """

    def __init__(
        self,
        class_weights: Sequence[float] | None = None,
        ignore_index: int = IGNORE_INDEX,
        require_weight_map: bool = False,
        normalization: Literal["mean", "weight_sum"] = "mean",
    ) -> None:
        super().__init__()
        self.class_weights: torch.Tensor | None
        # A buffer follows .to(device) and lands in the state_dict.
        self.register_buffer(
            "class_weights",
            None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32),
        )
        self.ignore_index = ignore_index
        self.require_weight_map = require_weight_map
        self.normalization = normalization

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor | None = None
    ) -> torch.Tensor:
        if weight_map is None:
            if self.require_weight_map:
                raise ValueError(
                    "weighted_ce needs a weight map: call loss(logits, target, weight_map) with an (N, H, W) "
                    "map from unetkit.data.weight_map.unet_weight_map / WeightMapCache."
                )
            return LF.cross_entropy(logits, target, self.class_weights, self.ignore_index)
        return LF.weighted_cross_entropy(
            logits, target, weight_map, self.class_weights, self.ignore_index, self.normalization
        )

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, require_weight_map={self.require_weight_map}"
