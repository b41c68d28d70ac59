"""Run any network on any image size: pad to what the net accepts, crop the logits back.

Padded nets (``size_divisor``) get reflect padding to the next multiple; unpadded nets (``border`` > 0,
the 2015 U-Net) get a mirrored border of that width plus enough to reach a valid input size, exactly the
paper's overlap-tile strategy for a single tile.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _pad_amounts(size: int, target: int) -> tuple[int, int]:
    extra = target - size
    return extra // 2, extra - extra // 2


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
    """Logits ``(N, K, H, W)`` for an input ``(N, C, H, W)`` of any H, W."""
    h, w = x.shape[-2:]
    border = int(getattr(model, "border", 0) or 0)
    if border > 0:
        from unetkit.models.unet_original import unet_original_input_size_for_output

        depth = int(getattr(model, "depth", 4))
        in_h = unet_original_input_size_for_output(h, depth=depth)
        in_w = unet_original_input_size_for_output(w, depth=depth)
        # Output covers the centre of the padded input; extra output beyond H, W is cropped below.
        top, left = border, border
        pads = (left, in_w - w - left, top, in_h - h - top)
        logits = model(_mirror_pad(x, pads))
        return logits[..., :h, :w]
    div = int(getattr(model, "size_divisor", 1) or 1)
    th, tw = -(-h // div) * div, -(-w // div) * div
    if (th, tw) == (h, w):
        return model(x)
    (t, b), (l, r) = _pad_amounts(h, th), _pad_amounts(w, tw)
    logits = model(_mirror_pad(x, (l, r, t, b)))
    return logits[..., t : t + h, l : l + w]
