"""Baseline 3 of the lecture's ladder ("Problem?"): downsampling encoder + dense head reshaped to a mask."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from unetkit.geometry import ModelGeometry
from unetkit.layers import check_positive_int
from unetkit.models.base import SegmentationModel, is_tracing
from unetkit.models.encoders import VGGEncoder
from unetkit.models.registry import register_model


def _to_size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return check_positive_int(size, "input_size"), size
    pair = tuple(size)
    if len(pair) != 2:
        raise ValueError(f"input_size must be an int or an (H, W) pair, got {size!r}.")
    return check_positive_int(pair[0], "input_size[0]"), check_positive_int(pair[1], "input_size[1]")


@register_model("fcn_reshape")
class FCNReshape(SegmentationModel):
    """VGG-style encoder, flatten, ``Linear -> ReLU -> Linear`` to ``num_classes * H * W``, reshape.

    The dense head ties the model to ONE input size (``input_size``): the lecture's "Problem?" model,
    whose parameter count also grows with ``H * W``. Any other size raises ``ValueError``.

    Args:
        in_channels: image channels.
        num_classes: logit channels.
        input_size: the fixed ``H`` (= ``W``) or ``(H, W)``.
        channels: width of each encoder stage (two 3x3 convs + 2x2 max pool each).
        hidden_features: width of the hidden dense layer.
        norm: ``"batch"``, ``"instance"``, ``"group"`` or ``"none"``.

    Shape:
        ``(N, in_channels, *input_size)`` -> ``(N, num_classes, *input_size)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        input_size: int | Sequence[int] = 64,
        channels: Sequence[int] = (32, 64, 128),
        hidden_features: int = 256,
        norm: str = "batch",
    ) -> None:
        super().__init__(in_channels, num_classes)
        self.input_size = _to_size_pair(input_size)
        height, width = self.input_size
        self.encoder = VGGEncoder(in_channels, channels, (2,) * len(channels), norm)
        coarse = 2 ** len(channels)
        if height < coarse or width < coarse:
            raise ValueError(
                f"input_size {self.input_size} is too small for {len(channels)} poolings; "
                f"use at least {coarse} or fewer channels entries."
            )
        flat_features = self.encoder.out_channels[-1] * (height // coarse) * (width // coarse)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat_features, check_positive_int(hidden_features, "hidden_features")),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_features, num_classes * height * width),
        )

    def geometry(self) -> ModelGeometry:
        """One input size only: ``input_size``."""
        return ModelGeometry(fixed_input_size=self.input_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` with ``(H, W) == input_size`` -> logits ``(N, num_classes, H, W)``."""
        size = (int(x.shape[-2]), int(x.shape[-1]))
        if not is_tracing() and size != self.input_size:
            raise ValueError(
                f"fcn_reshape was built for input size {self.input_size}, got {size} (its dense head fixes "
                f"the input size); resize the images or build the model with input_size={size}."
            )
        flat = self.head(self.encoder(x)[-1])  # (N, num_classes * H * W)
        height, width = self.input_size
        return flat.view(x.shape[0], self.num_classes, height, width)
