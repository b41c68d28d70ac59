"""Segmentation heads: the last layer that maps features to per-class logits."""

from __future__ import annotations

from torch import nn

from unetkit.layers.factories import check_positive_int


class SegmentationHead(nn.Conv2d):
    """1x1 convolution (with bias) mapping features to raw logits.

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, num_classes, H, W)``.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__(
            check_positive_int(in_channels, "in_channels"), check_positive_int(num_classes, "num_classes"), 1
        )
