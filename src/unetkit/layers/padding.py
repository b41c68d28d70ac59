"""Pure spatial helpers: pad a batch up to a size multiple, crop a feature map to its centre."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unetkit.layers.factories import check_positive_int


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom/right of ``x`` so H and W become multiples of ``multiple``.

    Reflect padding is used so the border looks like image content; when the map is too small for
    reflection (a pad of ``p`` needs ``p < size``), replicate padding is used instead. Crop the result
    back with ``y[..., :H, :W]``.

    Args:
        x: ``(N, C, H, W)`` tensor.
        multiple: required divisor of the padded H and W.

    Returns:
        ``(N, C, ceil(H / multiple) * multiple, ceil(W / multiple) * multiple)``; ``x`` itself when no
        padding is needed.
    """
    check_positive_int(multiple, "multiple")
    if x.dim() != 4:
        raise ValueError(f"pad_to_multiple expects an (N, C, H, W) tensor, got shape {tuple(x.shape)}.")
    height, width = int(x.shape[-2]), int(x.shape[-1])
    pad_h = -height % multiple
    pad_w = -width % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def crop_center(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Crop the central ``size = (h, w)`` window of ``x`` (the paper's "copy and crop" of a skip map).

    Args:
        x: ``(N, C, H, W)`` tensor with ``H >= h`` and ``W >= w``.
        size: target spatial size.

    Returns:
        ``(N, C, h, w)``; when ``H - h`` is odd the extra row/column is dropped at the bottom/right.
    """
    height, width = int(x.shape[-2]), int(x.shape[-1])
    h, w = int(size[0]), int(size[1])
    if h > height or w > width:
        raise ValueError(f"crop_center: crop size {(h, w)} is larger than the input size {(height, width)}.")
    top = (height - h) // 2
    left = (width - w) // 2
    return x[..., top : top + h, left : left + w]
