"""Encoder step: ``Down`` = 2x2 max pool -> (dropout) -> ``DoubleConv``."""

from __future__ import annotations

import torch
from torch import nn

from unetkit.layers.conv import DoubleConv


def get_dropout(p: float) -> nn.Module:
    """``nn.Dropout(p)``, or ``nn.Identity`` for ``p == 0`` (keeps graphs and exports free of no-ops)."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1), got {p!r}.")
    return nn.Dropout(float(p)) if p > 0 else nn.Identity()


class Down(nn.Module):
    """Max pool 2x2 (stride 2), dropout, then ``DoubleConv`` (MONAI ``Down``).

    Dropout after the pooling follows the Keras ``start_neurons`` U-Net.

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, out_channels, H // 2 (- 4 if padding=0), ...)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        padding: int | str = "same",
        norm: str = "batch",
        bias: bool | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.dropout = get_dropout(dropout)
        self.conv = DoubleConv(in_channels, out_channels, padding, norm, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> ``(N, out_channels, H', W')``."""
        return self.conv(self.dropout(self.pool(x)))
