"""Encoders for the encoder + head architectures (FCN, fcn_reshape), and the interface they share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from unetkit.layers import ConvStack, check_positive_int

VGG16_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)
VGG16_CONVS_PER_STAGE: tuple[int, ...] = (2, 2, 3, 3, 3)


@runtime_checkable
class Encoder(Protocol):
    """What an encoder plugged into ``FCN`` provides.

    Attributes:
        in_channels: image channels it accepts.
        out_channels: channels of each returned feature map, shallow to deep.
        reductions: stride of each returned map w.r.t. the input (e.g. ``(2, 4, 8, 16, 32)``).

    ``forward(x)`` maps ``(N, in_channels, H, W)`` (H, W multiples of the largest reduction) to a list of
    ``(N, out_channels[i], H / reductions[i], W / reductions[i])`` maps.
    """

    in_channels: int
    out_channels: tuple[int, ...]
    reductions: tuple[int, ...]

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]: ...


def check_same_length(first: Sequence[int], second: Sequence[int], names: str) -> None:
    """Raise ValueError unless two per-stage sequences have the same length."""
    if len(first) != len(second):
        raise ValueError(f"{names} need one entry per stage, got {list(first)} and {list(second)}.")


def check_stages(channels: Sequence[int], second: Sequence[int], names: str, owner: str) -> None:
    """Raise ValueError unless ``channels`` and ``second`` have one entry per stage and there is a stage.

    ``owner`` names the model and its unit in the message, e.g. ``"SegNet needs at least one stage"``.
    """
    check_same_length(channels, second, names)
    if not channels:
        raise ValueError(f"{owner}, got channels=().")


class VGGEncoder(nn.Module):
    """VGG-style encoder: per stage, ``convs_per_stage[i]`` 3x3 ``ConvNormAct`` then a 2x2 max pool.

    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015.
    The defaults are the VGG16 layout (13 convs); no pretrained weights. Returns the pooled map of every
    stage (``pool1 .. pool5`` in the FCN paper's names).

    Args:
        in_channels: image channels.
        channels: width of each stage.
        convs_per_stage: number of 3x3 convs in each stage.
        norm: ``"batch"``, ``"instance"``, ``"group"`` or ``"none"`` (the original VGG).

    Shape:
        ``(N, in_channels, H, W)`` -> ``[(N, channels[i], H // 2**(i+1), W // 2**(i+1)) for each stage]``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int] = VGG16_CHANNELS,
        convs_per_stage: Sequence[int] = VGG16_CONVS_PER_STAGE,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        check_stages(
            channels, convs_per_stage, "channels and convs_per_stage", "VGGEncoder needs at least one stage"
        )
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = tuple(check_positive_int(c, "channels[i]") for c in channels)
        self.reductions = tuple(2 ** (stage + 1) for stage in range(len(channels)))
        widths_in = (in_channels, *self.out_channels[:-1])
        self.stages = nn.ModuleList(
            nn.Sequential(ConvStack(c_in, c_out, num_convs, norm=norm), nn.MaxPool2d(2))
            for c_in, c_out, num_convs in zip(widths_in, self.out_channels, convs_per_stage)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(N, in_channels, H, W)`` -> one pooled map per stage, shallow to deep."""
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
