"""SegNet: encoder-decoder that upsamples with the encoder's max-pooling indices.

Badrinarayanan, Kendall & Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image
Segmentation", TPAMI 2017 (https://arxiv.org/abs/1511.00561). The decoder has no learned upsampling and
no concatenation: ``MaxUnpool2d`` puts each value back where its encoder maximum was (zeros elsewhere)
and convolutions densify the sparse map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from unetkit.geometry import ModelGeometry
from unetkit.layers import ConvNormAct, ConvStack, SegmentationHead
from unetkit.models.base import SegmentationModel, is_tracing
from unetkit.models.encoders import VGG16_CHANNELS, VGG16_CONVS_PER_STAGE, check_stages
from unetkit.models.registry import register_model
from unetkit.options import look_up_option

#: Where a decoder stage changes its width: in its first conv (unetkit's default, kept so that saved
#: models load) or in its last conv, which mirrors the encoder exactly as in the paper.
SEGNET_DECODERS: tuple[str, ...] = ("reduce_first", "mirror")


class _EncoderStage(nn.Module):
    """Convs then 2x2 max pool that also returns the argmax indices and the pre-pool size."""

    def __init__(self, in_channels: int, out_channels: int, num_convs: int, norm: str) -> None:
        super().__init__()
        self.conv = ConvStack(in_channels, out_channels, num_convs, norm=norm)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """``(N, C_in, H, W)`` -> pooled ``(N, C_out, H // 2, W // 2)``, indices (same shape), ``[H, W]``."""
        x = self.conv(x)
        pooled, indices = F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)
        return pooled, indices, list(x.shape[-2:])


class _DecoderStage(nn.Module):
    """``MaxUnpool2d`` with the matching encoder indices (``output_size`` restores odd sizes), then convs.

    ``decoder="reduce_first"``: ``in -> out, out -> out, ...``; ``"mirror"``: ``in -> in, ..., in -> out``
    (the encoder stage read backwards, as in the paper). Both keep the state-dict keys ``conv.<i>.*``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, num_convs: int, norm: str, decoder: str = "reduce_first"
    ) -> None:
        super().__init__()
        self.unpool = nn.MaxUnpool2d(kernel_size=2, stride=2)
        if decoder == "mirror":
            widths = [in_channels] * num_convs + [out_channels]
            self.conv: nn.Sequential = nn.Sequential(
                *(ConvNormAct(widths[i], widths[i + 1], 3, norm=norm) for i in range(num_convs))
            )
        else:
            self.conv = ConvStack(in_channels, out_channels, num_convs, norm=norm)

    def forward(self, x: torch.Tensor, indices: torch.Tensor, size: list[int]) -> torch.Tensor:
        """``(N, C_in, h, w)`` + indices + ``[H, W]`` -> ``(N, C_out, H, W)``."""
        return self.conv(self.unpool(x, indices, output_size=size))


@register_model("segnet")
class SegNet(SegmentationModel):
    """SegNet with a VGG16-style encoder (13 convs by default) and a decoder of as many convs.

    Decoder stage ``i`` unpools with encoder stage ``i``'s indices and maps ``channels[i]`` to
    ``channels[i - 1]`` (``channels[0]`` for the last one), then a 1x1 head gives the logits. By default
    (``decoder="reduce_first"``) the width changes in the stage's first conv; ``decoder="mirror"`` changes
    it in the last conv, so that each decoder stage is its encoder stage backwards (the paper's network,
    see :attr:`PAPER_NOTE`).

    Args:
        channels: width of each encoder stage.
        convs_per_stage: 3x3 convs per stage (encoder and decoder alike).
        norm: ``"batch"`` (the paper), ``"instance"``, ``"group"`` or ``"none"``.
        decoder: ``"reduce_first"`` (default) or ``"mirror"`` (the paper): which conv of a decoder stage
            changes the width.

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, num_classes, H, W)``; odd sizes work because each unpooling
        gets the pre-pool size, but every stage needs ``H, W >= 2`` before pooling.
    """

    #: How the default differs from the paper and which keywords give the paper's network (printed by
    #: ``unetkit explain model``). Counts for 3 input channels and 21 classes.
    PAPER_NOTE: ClassVar[str] = (
        "The default decoder changes the width in the first conv of each stage (512->256, 256->256, "
        "256->256; 24,937,493 parameters for 3 channels and 21 classes); the paper's decoder mirrors the "
        'encoder and changes it in the last conv (512->512, 512->512, 512->256): decoder="mirror" gives '
        'the paper\'s network: 29,473,429 parameters (29,465,429 with norm="none").'
    )

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int] = VGG16_CHANNELS,
        convs_per_stage: Sequence[int] = VGG16_CONVS_PER_STAGE,
        norm: str = "batch",
        decoder: str = "reduce_first",
    ) -> None:
        super().__init__(in_channels, num_classes)
        self.decoder_layout = look_up_option(decoder, SEGNET_DECODERS, name="SegNet decoder")
        check_stages(
            channels, convs_per_stage, "channels and convs_per_stage", "SegNet needs at least one stage"
        )
        self.channels = tuple(channels)
        widths_in = (in_channels, *self.channels[:-1])
        self.encoder = nn.ModuleList(
            _EncoderStage(c_in, c_out, n, norm)
            for c_in, c_out, n in zip(widths_in, self.channels, convs_per_stage)
        )
        widths_out = (self.channels[0], *self.channels[:-1])
        self.decoder = nn.ModuleList(
            _DecoderStage(c_in, c_out, n, norm, self.decoder_layout)
            for c_in, c_out, n in reversed(list(zip(self.channels, widths_out, convs_per_stage)))
        )
        self.head = SegmentationHead(self.channels[0], num_classes)

    def geometry(self) -> ModelGeometry:
        """Any size from ``2 ** stages`` pixels up (each 2x2 pooling needs at least 2 pixels)."""
        return ModelGeometry(min_side=2 ** len(self.channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> logits ``(N, num_classes, H, W)``."""
        if not is_tracing():
            # torch's own error for a too-small input ("Output size is too small") names neither size.
            self.geometry().check_input_size(int(x.shape[-2]), int(x.shape[-1]))
        remembered = []
        for stage in self.encoder:
            x, indices, size = stage(x)  # (N, C_i, H_i // 2, W_i // 2)
            remembered.append((indices, size))
        for stage in self.decoder:
            indices, size = remembered.pop()
            x = stage(x, indices, size)  # (N, C_{i-1}, H_i, W_i)
        return self.head(x)
