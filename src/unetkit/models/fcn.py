"""Fully convolutional networks FCN-32s / FCN-16s / FCN-8s over a pluggable encoder.

Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015
(https://arxiv.org/abs/1411.4038). Class scores are predicted at stride 32, then refined by ADDING 1x1
score maps of pool4 (stride 16) and pool3 (stride 8) after upsampling by 2, and finally upsampled to the
input size.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from unetkit.geometry import ModelGeometry
from unetkit.layers import ConvNormAct, SegmentationHead, check_positive_int, get_dropout, pad_to_multiple
from unetkit.layers.padding import crop_top_left
from unetkit.models.base import SegmentationModel
from unetkit.models.encoders import VGG16_CHANNELS, VGG16_CONVS_PER_STAGE, Encoder, VGGEncoder
from unetkit.models.registry import register_model
from unetkit.options import look_up_option

#: Variant -> strides of the encoder maps fused into the scores (coarse first).
FCN_SKIP_STRIDES: dict[str, tuple[int, ...]] = {"32s": (), "16s": (16,), "8s": (16, 8)}
FCN_UPSAMPLE_MODES: tuple[str, ...] = ("transpose", "bilinear")
_SCORE_STRIDE = 32


def bilinear_upsampling_weight(channels: int, kernel_size: int) -> torch.Tensor:
    """``ConvTranspose2d`` weight ``(channels, channels, k, k)`` that upsamples each channel bilinearly.

    The FCN paper initialises its deconvolutions this way; torch has no such initialiser, so it is
    written here (the classic ``upsample_filt`` of the Caffe FCN code).
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    ramp = 1 - (torch.arange(kernel_size, dtype=torch.float32) - center).abs() / factor
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = ramp[:, None] * ramp[None, :]
    return weight


def get_score_upsampler(mode: str, num_classes: int, factor: int) -> nn.Module:
    """Upsample score maps by ``factor``: bilinear-initialised ``ConvTranspose2d`` or fixed bilinear.

    ``ConvTranspose2d(k=2f, s=f, p=f/2)`` maps size ``n`` to exactly ``f n``, so no crop is needed.
    """
    key = look_up_option(mode, FCN_UPSAMPLE_MODES, name="upsample")
    if key == "bilinear":
        return nn.Upsample(scale_factor=factor, mode="bilinear", align_corners=False)
    deconv = nn.ConvTranspose2d(
        num_classes, num_classes, kernel_size=2 * factor, stride=factor, padding=factor // 2, bias=False
    )
    with torch.no_grad():
        deconv.weight.copy_(bilinear_upsampling_weight(num_classes, 2 * factor))
    return deconv


class _SkipFusion(nn.Module):
    """``up2(scores) + score_conv(skip)``: the FCN fusion of a finer encoder map by element-wise addition."""

    def __init__(self, skip_channels: int, num_classes: int, upsample: str) -> None:
        super().__init__()
        self.up = get_score_upsampler(upsample, num_classes, 2)
        self.score = SegmentationHead(skip_channels, num_classes)
        # Zero init (as in the paper): training starts from the coarser net's prediction.
        nn.init.zeros_(self.score.weight)
        if self.score.bias is not None:
            nn.init.zeros_(self.score.bias)

    def forward(self, scores: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``scores: (N, K, h, w)``, ``skip: (N, C, 2h, 2w)`` -> ``(N, K, 2h, 2w)``."""
        return self.up(scores) + self.score(skip)


class FCN(SegmentationModel):
    """FCN-32s/16s/8s: encoder -> conv head ("fc6", "fc7") -> scores at stride 32 -> skip fusions -> upsample.

    Any input size works: the image is reflect-padded to a multiple of the encoder's coarsest stride (32 for
    VGG16; :meth:`geometry` states it) and the logits cropped back.

    Args:
        variant: ``"32s"``, ``"16s"`` or ``"8s"``.
        encoder: a module following :class:`~unetkit.models.encoders.Encoder` with maps at strides 32
            (and 16, 8 for the finer variants); default a ``VGGEncoder``. Mutually exclusive with
            ``encoder_channels`` / ``convs_per_stage``.
        encoder_channels: widths of the default ``VGGEncoder`` stages (default VGG16's).
        convs_per_stage: convs per ``VGGEncoder`` stage (default VGG16's).
        head_channels: width of the fc6/fc7 convs (1024 by default; 4096 in the paper).
        head_kernel: fc6's odd kernel size (3 by default; 7 in the paper, VGG16's fc6 as a conv). fc7 is
            1x1. Both are padded to keep the stride-32 map's size (the paper pads the image by 100
            pixels instead and crops), so the parameter count is the paper's, the padding is not.
        norm: normalisation of the default encoder and the head (``"batch"`` by default; the paper has
            none: ``"none"``).
        upsample: ``"transpose"`` (learnable, bilinear-initialised) or ``"bilinear"`` (fixed).
        dropout: dropout after fc6 and fc7.
    """

    #: How the default differs from the paper and which keywords give the paper's network (printed by
    #: ``unetkit explain model``). Counts for 3 input channels and 21 classes (PASCAL VOC), as in the paper.
    PAPER_NOTE: ClassVar[str] = (
        "The default head is a 1024-wide 3x3 fc6 and a 1x1 fc7 with BatchNorm everywhere (fcn8s: 20,654,879 "
        "parameters for 3 channels and 21 classes); the paper's fc6 is VGG16's 4096-wide 7x7 and no norm: "
        'head_channels=4096, head_kernel=7, norm="none" give its 134,489,759 (fcn8s), 134,815,994 (fcn16s) '
        'and 136,152,917 (fcn32s) parameters, every transposed convolution counted (upsample="bilinear" '
        "leaves them out: fcn32s 134,346,581, the paper's 134M). fcn8s has fewer parameters than fcn32s "
        "because fcn32s' final 64x64 transposed convolution alone has 21*21*64*64 = 1,806,336, more than "
        "fcn8s' pool4/pool3 score convs and 4x4, 4x4, 16x16 transposed convolutions together (143,178)."
    )

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        variant: str = "8s",
        encoder: nn.Module | None = None,
        encoder_channels: Sequence[int] | None = None,
        convs_per_stage: Sequence[int] | None = None,
        head_channels: int = 1024,
        head_kernel: int = 3,
        norm: str = "batch",
        upsample: str = "transpose",
        dropout: float = 0.5,
    ) -> None:
        super().__init__(in_channels, num_classes)
        self.variant = look_up_option(variant, FCN_SKIP_STRIDES, name="FCN variant")
        check_positive_int(head_channels, "head_channels")
        if check_positive_int(head_kernel, "head_kernel") % 2 == 0:
            raise ValueError(
                f"head_kernel must be odd (a 'same'-padded fc6 keeps the stride-32 map's size), got "
                f"{head_kernel}; use 7 for the paper's fc6 or 3 (the default)."
            )
        if encoder is None:
            encoder = VGGEncoder(
                in_channels,
                VGG16_CHANNELS if encoder_channels is None else encoder_channels,
                VGG16_CONVS_PER_STAGE if convs_per_stage is None else convs_per_stage,
                norm,
            )
        elif encoder_channels is not None or convs_per_stage is not None:
            raise ValueError("Pass either encoder or encoder_channels/convs_per_stage, not both.")
        if not isinstance(encoder, Encoder):
            raise TypeError(
                "encoder must provide in_channels, out_channels and reductions, "
                f"got {type(encoder).__name__}."
            )
        if encoder.in_channels != in_channels:
            raise ValueError(f"encoder.in_channels ({encoder.in_channels}) != in_channels ({in_channels}).")
        needed = (_SCORE_STRIDE, *FCN_SKIP_STRIDES[self.variant])
        missing = [s for s in needed if s not in encoder.reductions]
        if missing:
            raise ValueError(
                f"FCN-{self.variant} needs encoder maps at strides {needed}; encoder.reductions = "
                f"{encoder.reductions} lacks {missing}."
            )
        self.encoder = encoder
        # Pad to the coarsest stride of the encoder so every stage divides evenly and maps align exactly.
        self.pad_multiple = max(encoder.reductions)
        # Positions of the used maps in the encoder's output list (deepest first).
        self.feature_index = tuple(encoder.reductions.index(s) for s in needed)
        deepest = encoder.out_channels[self.feature_index[0]]
        self.head = nn.Sequential(
            ConvNormAct(deepest, head_channels, head_kernel, norm=norm),
            get_dropout(dropout),
            ConvNormAct(head_channels, head_channels, 1, norm=norm),
            get_dropout(dropout),
        )
        self.score = SegmentationHead(head_channels, num_classes)
        self.fusions = nn.ModuleList(
            _SkipFusion(encoder.out_channels[index], num_classes, upsample)
            for index in self.feature_index[1:]
        )
        self.final_up = get_score_upsampler(upsample, num_classes, min(needed))

    def geometry(self) -> ModelGeometry:
        """Any size in, the same size out; the net reflect-pads its input to its encoder's coarsest stride
        (32 for VGG16's five stages, 64 for six)."""
        return ModelGeometry(pad_multiple=self.pad_multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> logits ``(N, num_classes, H, W)``."""
        features = self.encoder(pad_to_multiple(x, self.pad_multiple))
        scores = self.score(self.head(features[self.feature_index[0]]))  # (N, K, H/32, W/32)
        for fusion, index in zip(self.fusions, self.feature_index[1:]):
            scores = fusion(scores, features[index])  # (N, K, H/16, W/16), then (N, K, H/8, W/8)
        return crop_top_left(self.final_up(scores), x.shape[-2:])


def _builder_signature() -> inspect.Signature:
    """``FCN``'s signature without ``variant`` (each builder fixes it)."""
    params = [p for name, p in inspect.signature(FCN).parameters.items() if name != "variant"]
    return inspect.Signature(params, return_annotation=FCN)


@register_model("fcn32s")
def fcn32s(in_channels: int, num_classes: int, **kwargs: Any) -> FCN:
    """FCN-32s: stride-32 scores upsampled x32 (``FCN`` keyword arguments apply)."""
    return FCN(in_channels, num_classes, variant="32s", **kwargs)


@register_model("fcn16s")
def fcn16s(in_channels: int, num_classes: int, **kwargs: Any) -> FCN:
    """FCN-16s: stride-32 scores + pool4 scores, upsampled x16 (``FCN`` keyword arguments apply)."""
    return FCN(in_channels, num_classes, variant="16s", **kwargs)


@register_model("fcn8s")
def fcn8s(in_channels: int, num_classes: int, **kwargs: Any) -> FCN:
    """FCN-8s: stride-32 scores + pool4 + pool3 scores, upsampled x8 (``FCN`` keyword arguments apply)."""
    return FCN(in_channels, num_classes, variant="8s", **kwargs)


# The builders state FCN's keywords, so that create_model's check (models.registry.check_model_kwargs)
# names a keyword they do not take with a did-you-mean, as for every other model: behind **kwargs it
# reached FCN.__init__ as a bare "got an unexpected keyword argument" (a trial's base_channels).
for _builder in (fcn32s, fcn16s, fcn8s):
    _builder.__signature__ = _builder_signature()  # type: ignore[attr-defined]
del _builder
