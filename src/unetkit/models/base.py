"""``SegmentationModel``: the attributes every registered architecture exposes."""

from __future__ import annotations

import torch
from torch import nn

from unetkit.layers.factories import check_positive_int


class SegmentationModel(nn.Module):
    """Base class of every registered model.

    ``forward`` maps ``(N, in_channels, H, W)`` images to raw logits ``(N, num_classes, H', W')``
    (``H' = H`` except for the unpadded ``unet_original``).

    Every model's constructor takes ``in_channels`` (image channels) and ``num_classes`` (logit channels)
    first, and those with normalisation layers take ``norm``: ``"batch"``, ``"instance"``, ``"group"`` or
    ``"none"`` (see :func:`unetkit.layers.get_norm_layer`). The model docstrings list only their own arguments
    and say where the output shape differs from ``(N, num_classes, H, W)``.

    Attributes:
        in_channels: number of input channels.
        num_classes: number of output logit channels.
        size_divisor: input H and W must be multiples of this for the net's own arithmetic; 1 when any
            size works (the model pads/crops internally).
        fixed_input_size: ``(H, W)`` for models that only accept one size (``fcn_reshape``), else ``None``.
        border: context pixels lost per side, ``(H - H') / 2``; 0 except for the unpadded ``unet_original``.
    """

    size_divisor: int = 1
    border: int = 0
    fixed_input_size: tuple[int, int] | None = None

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.num_classes = check_positive_int(num_classes, "num_classes")


def is_tracing() -> bool:
    """True while ``torch.jit.trace``, ``torch.compile`` or ``torch.export`` trace the model.

    Python-side input checks are skipped then, so they do not specialise or break the traced graph.
    """
    return bool(torch.jit.is_tracing() or torch.compiler.is_compiling())
