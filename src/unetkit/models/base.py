"""``SegmentationModel``: the attributes every registered architecture exposes, and its geometry."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unetkit.geometry import ModelGeometry
from unetkit.layers.factories import check_positive_int
from unetkit.tracing import is_tracing

__all__ = ["SegmentationModel", "forward_any_size", "is_tracing", "model_geometry"]


class SegmentationModel(nn.Module):
    """Base class of every registered model.

    ``forward`` maps ``(N, in_channels, H, W)`` images to raw logits ``(N, num_classes, H', W')``
    (``H' = H`` except for the unpadded ``unet_original``).

    Every model's constructor takes ``in_channels`` (image channels) and ``num_classes`` (logit channels)
    first, and those with normalisation layers take ``norm``: ``"batch"``, ``"instance"``, ``"group"`` or
    ``"none"`` (see :func:`unetkit.layers.get_norm_layer`). The model docstrings list only their own arguments
    and say where the output shape differs from ``(N, num_classes, H, W)``.

    A model states its input/output size rules once, in :meth:`geometry`; ``size_divisor``, ``border`` and
    ``fixed_input_size`` are read-only views of it.

    Attributes:
        in_channels: number of input channels.
        num_classes: number of output logit channels.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.num_classes = check_positive_int(num_classes, "num_classes")

    def geometry(self) -> ModelGeometry:
        """The sizes this net accepts and returns (default: any size in, the same size out).

        Written into ``config.json`` on save and export and read by the predictor, the exporters and
        training's padding (:func:`forward_any_size`). Override it in models with size rules.
        """
        return ModelGeometry()

    @property
    def size_divisor(self) -> int:
        """Input H and W must be multiples of this (1: any size; see :meth:`geometry`)."""
        return self.geometry().size_divisor

    @property
    def border(self) -> int:
        """Context pixels lost per side, ``(H - H') / 2`` (0 except for the unpadded ``unet_original``)."""
        return self.geometry().border

    @property
    def fixed_input_size(self) -> tuple[int, int] | None:
        """``(H, W)`` for models that accept one size only (``fcn_reshape``), else ``None``."""
        return self.geometry().fixed_input_size


def model_geometry(model: nn.Module) -> ModelGeometry:
    """``model.geometry()`` of a unetkit model (or a wrapper forwarding it); any size for other modules."""
    geometry = getattr(model, "geometry", None)
    return geometry() if callable(geometry) else ModelGeometry()


def _mirror_pad(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    # Reflect padding needs pad < size; repeat in steps so large borders on small crops still mirror.
    left, right, top, bottom = pads
    while left or right or top or bottom:
        h, w = x.shape[-2:]
        step = (min(left, w - 1), min(right, w - 1), min(top, h - 1), min(bottom, h - 1))
        if max(step) == 0:
            return F.pad(x, (left, right, top, bottom), mode="replicate")
        x = F.pad(x, step, mode="reflect")
        left, right, top, bottom = (left - step[0], right - step[1], top - step[2], bottom - step[3])
    return x


def forward_any_size(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(N, K, H, W)`` for an input ``(N, C, H, W)`` of any H, W, following ``model``'s geometry.

    The input is mirror-padded to the smallest valid size whose output covers ``H x W`` (for an unpadded
    net: its ``border`` of mirrored context per side, the paper's overlap-tile strategy for a single tile),
    the image centred in it, and the logits are cropped back. A fixed-size net gets the input unchanged (it
    raises its own error for other sizes).
    """
    geometry = model_geometry(model)
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if geometry.fixed_input_size is not None or (geometry.is_valid_size(h, w) and geometry.border == 0):
        return model(x)
    in_h, in_w = geometry.input_side(h), geometry.input_side(w)
    b = geometry.border
    # Extra pixels beyond border + image are split evenly; the output starts `border` into the input.
    extra_top, extra_left = (in_h - h - 2 * b) // 2, (in_w - w - 2 * b) // 2
    pads = (b + extra_left, in_w - w - b - extra_left, b + extra_top, in_h - h - b - extra_top)
    logits = model(_mirror_pad(x, pads))
    return logits[..., extra_top : extra_top + h, extra_left : extra_left + w]
