"""The 2015 paper's U-Net: valid (unpadded) 3x3 convolutions, crop-and-concat skips, 572 -> 388.

Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015 (https://arxiv.org/abs/1505.04597), Fig. 1. Every 3x3 convolution loses one pixel per side,
so the output is smaller than the input; overlap-tile inference feeds it mirrored context of
:attr:`UNetOriginal.border` pixels per side. The pure size helpers serving that inference live in the
torch-free :mod:`unetkit.geometry` and are re-exported here.
"""

from __future__ import annotations

import torch

from unetkit.geometry import (
    ModelGeometry,
    unet_original_geometry,
    unet_original_input_size_for_output,
    unet_original_output_size,
    unet_original_valid_input_sizes,
)
from unetkit.models.base import is_tracing
from unetkit.models.registry import register_model
from unetkit.models.unet import UNet

# The size helpers live in the torch-free unetkit.geometry (the onnxruntime path needs them without torch)
# and are re-exported here, where they always were.
__all__ = [
    "UNetOriginal",
    "unet_original_input_size_for_output",
    "unet_original_output_size",
    "unet_original_valid_input_sizes",
]


@register_model("unet_original")
class UNetOriginal(UNet):
    """The paper's U-Net: valid 3x3 convs (bias, ReLU, no norm), max pool 2x2, up-conv 2x2, crop and concat.

    With ``depth=4, base_channels=64``: ``(1, 1, 572, 572)`` -> ``(1, 2, 388, 388)`` with 31,030,658
    parameters for ``in_channels=1, num_classes=2``; 64x568x568 after the first double conv,
    1024x28x28 at the bottom, 512x52x52 after the first up step.

    Only some sizes are valid (see :func:`unet_original_valid_input_sizes`); ``forward`` raises
    ``ValueError`` naming the nearest valid sizes otherwise. Its :meth:`geometry` states the rule:
    ``size_divisor`` is ``2**depth`` (valid sizes step by it) but divisibility alone does not make a size
    valid: valid sizes are ``2**depth * k - 4`` from ``k = 12`` on (``k = 11`` at depth 1), so 188, 204, ...,
    572, ... for depth 4 (92, 100, ... for depth 3): a smaller size of that form (140, 156, 172) is too small,
    a decoder map would be empty. ``border`` (92 for depth 4) is lost per side.

    Args:
        depth: number of poolings.
        base_channels: width of the first level, doubled per level.

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, num_classes, output_size(H), output_size(W))``.
    """

    conv_padding = 0

    def __init__(self, in_channels: int, num_classes: int, depth: int = 4, base_channels: int = 64) -> None:
        super().__init__(
            in_channels, num_classes, depth, base_channels, norm="none", conv_bias=True, upsample="transpose"
        )

    def geometry(self) -> ModelGeometry:
        """Valid sizes of the unpadded U-Net of this depth; context lost per side (92 for depth 4)."""
        return unet_original_geometry(self.depth)

    def output_size(self, input_size: int) -> int:
        """Output side for an input side (raises ``ValueError`` for invalid sizes)."""
        return unet_original_output_size(input_size, self.depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> logits ``(N, num_classes, H - 2 border, W - 2 border)``."""
        if not is_tracing():
            for side in x.shape[-2:]:
                unet_original_output_size(int(side), self.depth)
        return self.encode_decode(x)
