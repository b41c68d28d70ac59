"""U-Net with padded ("same") convolutions: any input size in, logits of the same size out.

Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015 (https://arxiv.org/abs/1505.04597), with the padded convolutions used by most re-implementations
(AI VIET NAM lecture, Vanderbilt lecture, Keras ``start_neurons`` notebook).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from unetkit.geometry import ModelGeometry
from unetkit.layers import (
    DoubleConv,
    Down,
    SegmentationHead,
    UpCat,
    check_positive_int,
    get_dropout,
    pad_to_multiple,
    resolve_conv_bias,
)
from unetkit.layers.padding import crop_top_left
from unetkit.models.base import SegmentationModel
from unetkit.models.registry import register_model

DEFAULT_BASE_CHANNELS = 64


def unet_channels(depth: int, base_channels: int | None, channels: Sequence[int] | None) -> tuple[int, ...]:
    """Resolve the per-level widths ``(c_0, ..., c_depth)``: explicit ``channels`` or ``base * 2**level``."""
    check_positive_int(depth, "depth")
    if channels is None:
        base = (
            DEFAULT_BASE_CHANNELS
            if base_channels is None
            else check_positive_int(base_channels, "base_channels")
        )
        return tuple(base * 2**level for level in range(depth + 1))
    if base_channels is not None:
        raise ValueError(f"Pass either base_channels ({base_channels}) or channels ({channels}), not both.")
    widths = tuple(check_positive_int(c, "channels[i]") for c in channels)
    if len(widths) != depth + 1:
        raise ValueError(
            f"channels must have depth + 1 = {depth + 1} entries, got {len(widths)} ({list(widths)}); "
            f"pass depth={len(widths) - 1}."
        )
    return widths


@register_model("unet")
class UNet(SegmentationModel):
    """Padded U-Net: ``DoubleConv`` stem, ``depth`` x ``Down``, ``depth`` x ``UpCat``, 1x1 head.

    Inputs whose H or W is not a multiple of ``2**depth`` work: the image is reflect-padded at the
    bottom/right up to the next multiple (replicate padding when the image is too small to reflect) and
    the logits are cropped back, so the output always has the input's H and W (``size_divisor == 1``).

    Parameter counts (checked in the tests):
        * ``UNet(1, 2, upsample="transpose4")`` = AI VIET NAM lecture ``UNet(n_channels=1, n_classes=2)``
          (BatchNorm, bias-free 3x3 convs, ``ConvTranspose2d(k=4, s=2, p=1)``): 39,392,386.
        * ``UNet(1, 2, norm="none", upsample="transpose")`` = Vanderbilt lecture U-Net / the 2015 paper
          (convs with bias, ``ConvTranspose2d(k=2, s=2)``): 31,030,658.

    Args:
        depth: number of 2x2 poolings.
        base_channels: width of the first level (doubled per level; the Keras notebook's
            ``start_neurons``); default 64. Mutually exclusive with ``channels``.
        channels: explicit widths, ``depth + 1`` entries, top level first.
        conv_bias: bias of the 3x3 convs; default ``norm == "none"``.
        upsample: ``"transpose"`` (k2 s2), ``"transpose4"`` (k4 s2 p1), ``"bilinear"`` or ``"nearest"``
            (+ 1x1 conv). The upsampling maps level ``l + 1``'s width to level ``l``'s.
        skip: concatenate the encoder maps in the decoder; ``False`` gives a plain encoder-decoder.
        dropout: Keras-style dropout after every pooling and every concatenation (0.5 in the lecture
            notebook); 0 turns it off.

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, num_classes, H, W)`` for any ``H, W >= 1``.

    Example:
        >>> UNet(1, 2, base_channels=8, depth=2)(torch.zeros(1, 1, 37, 53)).shape
        torch.Size([1, 2, 37, 53])
    """

    # Convolution padding of every 3x3 conv: "same" here, 0 (valid) in the paper's ``UNetOriginal``.
    conv_padding: int | str = "same"

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        depth: int = 4,
        base_channels: int | None = None,
        channels: Sequence[int] | None = None,
        norm: str = "batch",
        conv_bias: bool | None = None,
        upsample: str = "transpose",
        skip: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_channels, num_classes)
        if not isinstance(skip, bool):
            raise TypeError(f"skip must be True or False, got {skip!r}.")
        get_dropout(dropout)  # validates before any block is built
        widths = unet_channels(depth, base_channels, channels)
        bias = resolve_conv_bias(norm, conv_bias)
        self.depth = depth
        self.channels = widths
        self.skip = skip
        # forward pads to this so every pooling divides evenly; stated in geometry() for the predictors.
        self.pad_multiple = 2**depth

        self.stem = DoubleConv(in_channels, widths[0], self.conv_padding, norm, bias)
        self.downs = nn.ModuleList(
            Down(widths[level], widths[level + 1], self.conv_padding, norm, bias, dropout)
            for level in range(depth)
        )
        self.ups = nn.ModuleList(
            UpCat(
                widths[level + 1],
                widths[level] if skip else 0,
                widths[level],
                upsample,
                self.conv_padding,
                norm,
                bias,
                dropout,
            )
            for level in reversed(range(depth))
        )
        self.head = SegmentationHead(widths[0], num_classes)

    def geometry(self) -> ModelGeometry:
        """Any size in, the same size out; the net reflect-pads its input to a multiple of ``2 ** depth``."""
        return ModelGeometry(pad_multiple=self.pad_multiple)

    def encode_decode(self, x: torch.Tensor) -> torch.Tensor:
        """The U on ``x`` as given (no padding): ``(N, in_channels, H, W)`` -> ``(N, num_classes, H', W')``.

        Shapes equal the input's for "same" convs with H, W multiples of ``2**depth``.
        """
        features = [self.stem(x)]  # level 0: (N, c_0, H, W)
        for down in self.downs:
            features.append(down(features[-1]))  # level l: (N, c_l, H / 2**l, W / 2**l)
        x = features.pop()  # bottom of the U
        for up in self.ups:
            x = up(x, features.pop())  # back up one level: (N, c_l, H / 2**l, W / 2**l)
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> logits ``(N, num_classes, H, W)``."""
        logits = self.encode_decode(pad_to_multiple(x, self.pad_multiple))
        return crop_top_left(logits, x.shape[-2:])
