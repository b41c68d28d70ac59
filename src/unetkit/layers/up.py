"""Decoder step: ``UpCat`` = upsample x2 -> (crop skip) -> concat -> (dropout) -> ``DoubleConv``."""

from __future__ import annotations

import torch
from torch import nn

from unetkit.layers.conv import DoubleConv
from unetkit.layers.down import get_dropout
from unetkit.layers.factories import check_positive_int
from unetkit.layers.padding import crop_center
from unetkit.options import look_up_option

#: Names accepted by :func:`get_upsample_layer`.
UPSAMPLE_MODES: tuple[str, ...] = ("transpose", "transpose4", "bilinear", "nearest")


def get_upsample_layer(mode: str, in_channels: int, out_channels: int) -> nn.Module:
    """A learnable x2 upsampling from ``in_channels`` to ``out_channels``.

    Args:
        mode: ``"transpose"`` (``ConvTranspose2d(k=2, s=2)``, the 2015 paper's "up-conv 2x2"),
            ``"transpose4"`` (``ConvTranspose2d(k=4, s=2, p=1)``, the AI VIET NAM lecture),
            ``"bilinear"`` / ``"nearest"`` (``Upsample(x2)`` then a 1x1 conv to change the width).
            Every variant has a bias.
        in_channels: channels of the coarse map.
        out_channels: channels after upsampling.

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, out_channels, 2H, 2W)``.
    """
    key = look_up_option(mode, UPSAMPLE_MODES, name="upsample")
    check_positive_int(in_channels, "in_channels")
    check_positive_int(out_channels, "out_channels")
    if key == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
    if key == "transpose4":
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)
    interpolate = nn.Upsample(scale_factor=2, mode=key, align_corners=False if key == "bilinear" else None)
    return nn.Sequential(interpolate, nn.Conv2d(in_channels, out_channels, kernel_size=1))


class UpCat(nn.Module):
    """Upsample the coarse map, concatenate the (centre-cropped) skip map, then ``DoubleConv``.

    The upsampling maps ``in_channels`` to ``out_channels`` (which halves the width in the classic U-Net,
    where ``out_channels == skip_channels == in_channels // 2``). When the skip map is larger than the
    upsampled map (valid convolutions), its centre is cropped, as in the paper's "copy and crop".

    Args:
        in_channels: channels of the coarse input.
        skip_channels: channels of the skip map; 0 turns the skip off (no concatenation).
        out_channels: channels of the output.
        upsample: see :func:`get_upsample_layer`.
        padding: ``"same"`` or 0 for the ``DoubleConv``.
        norm: normalisation of the ``DoubleConv``.
        bias: conv bias of the ``DoubleConv`` (``None``: only without norm).
        dropout: dropout after the concatenation (Keras ``start_neurons`` U-Net); 0 = off.

    Shape:
        ``x: (N, in_channels, h, w)``, ``skip: (N, skip_channels, H, W)`` with ``H >= 2h`` ->
        ``(N, out_channels, 2h (- 4 with padding=0), ...)``.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        upsample: str = "transpose",
        padding: int | str = "same",
        norm: str = "batch",
        bias: bool | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(skip_channels, bool) or not isinstance(skip_channels, int) or skip_channels < 0:
            raise ValueError(f"skip_channels must be an int >= 0 (0 = no skip), got {skip_channels!r}.")
        self.use_skip = skip_channels > 0
        self.up = get_upsample_layer(upsample, in_channels, out_channels)
        self.dropout = get_dropout(dropout)
        self.conv = DoubleConv(out_channels + skip_channels, out_channels, padding, norm, bias)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        """``x: (N, in_channels, h, w)``, ``skip: (N, skip_channels, H, W)`` -> ``(N, out_channels, ...)``."""
        x = self.up(x)
        if self.use_skip:
            if skip is None:
                raise ValueError("UpCat was built with skip_channels > 0 but forward got skip=None.")
            x = torch.cat([crop_center(skip, x.shape[-2:]), x], dim=1)
        return self.conv(self.dropout(x))
