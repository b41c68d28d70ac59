"""Baseline 4 of the lecture's ladder: encoder with pooling, decoder with bilinear upsampling, NO skips."""

from __future__ import annotations

from typing import Any

from unetkit.models.registry import register_model
from unetkit.models.unet import UNet


@register_model("encoder_decoder")
class EncoderDecoder(UNet):
    """A U-Net without its skip connections: fine detail must squeeze through the bottleneck.

    Same blocks as :class:`~unetkit.models.unet.UNet` (``skip=False``); the upsampling defaults to
    bilinear + 1x1 conv. Any input size works (reflect-pad to a multiple of ``2**depth``, crop back).

    Takes every :class:`~unetkit.models.unet.UNet` argument (``depth``, ``base_channels``, ``channels``,
    ``norm``, ...) except ``skip``, in the same order.

    Args:
        upsample: ``"bilinear"`` (default here), ``"nearest"``, ``"transpose"`` or ``"transpose4"``.
    """

    def __init__(self, in_channels: int, num_classes: int, *args: Any, **kwargs: Any) -> None:
        # The U-Net options pass through unchanged (restating UNet's signature would be a second copy to
        # keep in step); only ``skip`` is fixed and the upsampling default differs.
        if "skip" in kwargs:
            raise TypeError("EncoderDecoder has no skip argument (it is a UNet with skip=False); use UNet.")
        kwargs.setdefault("upsample", "bilinear")
        kwargs["skip"] = False
        super().__init__(in_channels, num_classes, *args, **kwargs)
