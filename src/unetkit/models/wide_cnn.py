"""Baseline 2 of the lecture's ladder: large kernels at full resolution, no downsampling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from unetkit.layers import ConvNormAct, SegmentationHead
from unetkit.models.base import SegmentationModel
from unetkit.models.encoders import check_stages
from unetkit.models.registry import register_model


@register_model("wide_cnn")
class WideCNN(SegmentationModel):
    """ "Same"-padded ``ConvNormAct`` layers with large kernels (7x7, 5x5, ...) and a 1x1 head.

    The receptive field grows only by ``kernel_size - 1`` per layer and every layer runs at full
    resolution, so context is expensive: the lecture's argument for downsampling.

    Args:
        channels: width of each layer.
        kernel_sizes: odd kernel size of each layer.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64, 64),
        kernel_sizes: Sequence[int] = (7, 5, 5),
        norm: str = "batch",
    ) -> None:
        super().__init__(in_channels, num_classes)
        check_stages(channels, kernel_sizes, "channels and kernel_sizes", "WideCNN needs at least one layer")
        even = [k for k in kernel_sizes if k % 2 == 0]
        if even:
            raise ValueError(
                f"kernel_sizes must be odd so 'same' padding keeps H and W, got {list(kernel_sizes)}."
            )
        widths_in = (in_channels, *channels[:-1])
        self.features = nn.Sequential(
            *(
                ConvNormAct(c_in, c_out, k, norm=norm)
                for c_in, c_out, k in zip(widths_in, channels, kernel_sizes)
            )
        )
        self.head = SegmentationHead(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> logits ``(N, num_classes, H, W)``."""
        return self.head(self.features(x))
