"""The 2015 paper's U-Net: valid (unpadded) 3x3 convolutions, crop-and-concat skips, 572 -> 388.

Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015 (https://arxiv.org/abs/1505.04597), Fig. 1. Every 3x3 convolution loses one pixel per side,
so the output is smaller than the input; overlap-tile inference feeds it mirrored context of
:attr:`UNetOriginal.border` pixels per side. The pure size helpers below serve that inference.
"""

from __future__ import annotations

import bisect

import torch

from unetkit.layers import check_positive_int
from unetkit.models.base import is_tracing
from unetkit.models.registry import register_model
from unetkit.models.unet import UNet

# Each DoubleConv of two valid 3x3 convolutions shrinks H and W by 4.
_DOUBLE_CONV_LOSS = 4


def _simulate_output_size(input_size: int, depth: int) -> int | None:
    """Output size for ``input_size``, or ``None`` if some map would be empty or pooled with a remainder."""
    size = input_size
    for _ in range(depth):
        size -= _DOUBLE_CONV_LOSS
        # The 2x2 pooling must see an even size so the decoder's crop stays centred.
        if size < 2 or size % 2:
            return None
        size //= 2
    size -= _DOUBLE_CONV_LOSS
    for _ in range(depth):
        if size < 1:
            return None
        size = 2 * size - _DOUBLE_CONV_LOSS
    return size if size >= 1 else None


def _smallest_valid_input(depth: int) -> int:
    # Valid sizes are 2**depth * (b + 4) - 4 for bottom sizes b; the first b that survives the decoder wins.
    bottom = 1
    while _simulate_output_size(2**depth * (bottom + 4) - 4, depth) is None:
        bottom += 1
    return 2**depth * (bottom + 4) - 4


def unet_original_valid_input_sizes(min_size: int, max_size: int, depth: int = 4) -> list[int]:
    """All input sizes in ``[min_size, max_size]`` the unpadded U-Net of ``depth`` poolings accepts.

    For ``depth=4`` these are 188, 204, ..., 572, ... (``16 k - 4``, ``k >= 12``).
    """
    check_positive_int(depth, "depth")
    if max_size < min_size:
        raise ValueError(f"max_size ({max_size}) must be >= min_size ({min_size}).")
    step = 2**depth
    start = _smallest_valid_input(depth)
    if min_size > start:
        start += -(-(min_size - start) // step) * step
    return list(range(start, max_size + 1, step))


def _nearest_valid_sizes(input_size: int, depth: int) -> list[int]:
    step = 2**depth
    candidates = unet_original_valid_input_sizes(
        1, max(input_size, _smallest_valid_input(depth)) + step, depth
    )
    position = bisect.bisect_left(candidates, input_size)
    return candidates[max(0, position - 1) : position + 1]


def unet_original_output_size(input_size: int, depth: int = 4) -> int:
    """Spatial output size of the unpadded U-Net for a square side ``input_size`` (572 -> 388 for depth 4).

    Raises:
        ValueError: ``input_size`` is not valid; the message names the nearest valid sizes.
    """
    check_positive_int(input_size, "input_size")
    check_positive_int(depth, "depth")
    output = _simulate_output_size(input_size, depth)
    if output is None:
        nearest = " or ".join(str(s) for s in _nearest_valid_sizes(input_size, depth))
        raise ValueError(
            f"Input size {input_size} is not valid for the unpadded U-Net (depth {depth}): every map must be "
            f"non-empty and even before each 2x2 pooling. Nearest valid sizes: {nearest}."
        )
    return output


def unet_original_input_size_for_output(output_size: int, depth: int = 4) -> int:
    """Smallest valid input size whose output size is ``>= output_size``."""
    check_positive_int(output_size, "output_size")
    check_positive_int(depth, "depth")
    size = _smallest_valid_input(depth)
    # The output grows by exactly 2**depth per valid input step, so the step count is computed, not searched.
    shortfall = output_size - unet_original_output_size(size, depth)
    if shortfall > 0:
        size += -(-shortfall // 2**depth) * 2**depth
    return size


@register_model("unet_original")
class UNetOriginal(UNet):
    """The paper's U-Net: valid 3x3 convs (bias, ReLU, no norm), max pool 2x2, up-conv 2x2, crop and concat.

    With ``depth=4, base_channels=64``: ``(1, 1, 572, 572)`` -> ``(1, 2, 388, 388)`` with 31,030,658
    parameters for ``in_channels=1, num_classes=2``; 64x568x568 after the first double conv,
    1024x28x28 at the bottom, 512x52x52 after the first up step.

    Only some sizes are valid (see :func:`unet_original_valid_input_sizes`); ``forward`` raises
    ``ValueError`` naming the nearest valid sizes otherwise. ``size_divisor`` is ``2**depth`` (valid sizes
    step by it) but divisibility alone does not make a size valid: valid sizes are ``2**depth * k - 4``.

    Args:
        in_channels: image channels.
        num_classes: logit channels.
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
        self.size_divisor = 2**depth
        smallest = _smallest_valid_input(depth)
        # Context lost per side; the same for every valid size (92 for depth 4).
        self.border = (smallest - unet_original_output_size(smallest, depth)) // 2

    def output_size(self, input_size: int) -> int:
        """Output side for an input side (raises ``ValueError`` for invalid sizes)."""
        return unet_original_output_size(input_size, self.depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> logits ``(N, num_classes, H - 2 border, W - 2 border)``."""
        if not is_tracing():
            for side in x.shape[-2:]:
                unet_original_output_size(int(side), self.depth)
        return self.encode_decode(x)
