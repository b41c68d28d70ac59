"""Baseline 1 of the lecture's ladder: a per-pixel classifier built only from 1x1 convolutions."""

from __future__ import annotations

import torch

from unetkit.layers import ConvStack, SegmentationHead
from unetkit.models.base import SegmentationModel
from unetkit.models.registry import register_model


@register_model("pixel_classifier", deprecated_aliases=("pixel_cnn",))
class PixelClassifier(SegmentationModel):
    """1x1 ``ConvNormAct`` layers then a 1x1 head: every pixel is classified from its own values only.

    With no spatial context it cannot tell an object from background of the same colour: the point the
    lecture makes before adding context. Formerly registered as ``pixel_cnn``, a name that collides with the
    autoregressive PixelCNN of van den Oord et al.; that name still builds this model, with a
    ``DeprecationWarning``.

    Args:
        hidden_channels: width of the hidden 1x1 layers.
        num_layers: number of hidden 1x1 layers.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden_channels: int = 64,
        num_layers: int = 2,
        norm: str = "batch",
    ) -> None:
        super().__init__(in_channels, num_classes)
        self.features = ConvStack(in_channels, hidden_channels, num_layers, kernel_size=1, norm=norm)
        self.head = SegmentationHead(hidden_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> logits ``(N, num_classes, H, W)``."""
        return self.head(self.features(x))
