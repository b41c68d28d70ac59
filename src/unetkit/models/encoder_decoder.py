"""Baseline 4 of the lecture's ladder: encoder with pooling, decoder with bilinear upsampling, NO skips."""

from __future__ import annotations

from collections.abc import Sequence

from unetkit.models.registry import register_model
from unetkit.models.unet import UNet


@register_model("encoder_decoder")
class EncoderDecoder(UNet):
    """A U-Net without its skip connections: fine detail must squeeze through the bottleneck.

    Same blocks as :class:`~unetkit.models.unet.UNet` (``skip=False``); the upsampling defaults to
    bilinear + 1x1 conv. Any input size works (reflect-pad to a multiple of ``2**depth``, crop back).

    Args:
        in_channels: image channels.
        num_classes: logit channels.
        depth: number of 2x2 poolings.
        base_channels: first-level width (doubled per level), default 64; exclusive with ``channels``.
        channels: explicit widths, ``depth + 1`` entries.
        norm: ``"batch"``, ``"instance"``, ``"group"`` or ``"none"``.
        upsample: ``"bilinear"``, ``"nearest"``, ``"transpose"`` or ``"transpose4"``.

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, num_classes, H, W)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        depth: int = 4,
        base_channels: int | None = None,
        channels: Sequence[int] | None = None,
        norm: str = "batch",
        upsample: str = "bilinear",
    ) -> None:
        super().__init__(
            in_channels, num_classes, depth, base_channels, channels, norm, upsample=upsample, skip=False
        )
