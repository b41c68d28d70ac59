"""Pure spatial helpers: pad a batch up to a size multiple, crop a feature map to its centre or top-left.

All three keep H and W symbolic while ``torch.jit.trace`` / ``torch.onnx.export`` / ``torch.export`` trace
them: sizes are read as ``x.shape[...]`` (never ``int(...)``) and no shape-dependent Python branch runs
while tracing, so an exported graph works at any input size instead of baking in the trace size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unetkit.layers.factories import check_positive_int
from unetkit.tracing import is_tracing


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom/right of ``x`` so H and W become multiples of ``multiple``.

    Reflect padding is used so the border looks like image content; when the map is too small for
    reflection (a pad of ``p`` needs ``p < size``), replicate padding is used instead. Crop the result
    back with :func:`crop_top_left`.

    While tracing, the pad amounts stay symbolic (a zero pad is an identity) and reflect padding is always
    used, so the exported graph needs ``H, W >= multiple`` (or sizes that are already multiples).

    Args:
        x: ``(N, C, H, W)`` tensor.
        multiple: required divisor of the padded H and W.

    Returns:
        ``(N, C, ceil(H / multiple) * multiple, ceil(W / multiple) * multiple)``; in eager mode ``x``
        itself when no padding is needed.
    """
    check_positive_int(multiple, "multiple")
    if x.dim() != 4:
        raise ValueError(f"pad_to_multiple expects an (N, C, H, W) tensor, got shape {tuple(x.shape)}.")
    height, width = x.shape[-2], x.shape[-1]
    pad_h = -height % multiple
    pad_w = -width % multiple
    if is_tracing():
        # No size comparison here: it would pick reflect/replicate (or skip padding) for the trace size only.
        return F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
    if pad_h == 0 and pad_w == 0:
        return x  # eager only: skips a copy; the traced path above pads by zero instead
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def crop_center(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Crop the central ``size = (h, w)`` window of ``x`` (the paper's "copy and crop" of a skip map).

    Args:
        x: ``(N, C, H, W)`` tensor with ``H >= h`` and ``W >= w``.
        size: target spatial size (ints, or ``x.shape[-2:]`` of another map; kept symbolic while tracing).

    Returns:
        ``(N, C, h, w)``; when ``H - h`` is odd the extra row/column is dropped at the bottom/right.
    """
    height, width = x.shape[-2], x.shape[-1]
    h, w = size[0], size[1]
    if not is_tracing() and (h > height or w > width):
        raise ValueError(f"crop_center: crop size {(h, w)} is larger than the input size {(height, width)}.")
    top = (height - h) // 2
    left = (width - w) // 2
    return x[..., top : top + h, left : left + w]


def crop_top_left(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Keep the top-left ``size = (h, w)`` window of ``x``: undoes :func:`pad_to_multiple`.

    A negative constant pad rather than ``x[..., :h, :w]``: slicing to a symbolic size makes
    ``torch.export`` guard on whether the slice is a no-op, which freezes "input was padded or not" into
    the exported program (it then refuses sizes on the other side of that branch).

    Args:
        x: ``(N, C, H, W)`` tensor with ``H >= h`` and ``W >= w``.
        size: target spatial size (ints, or another map's ``shape[-2:]``).

    Returns:
        ``(N, C, h, w)``, a new contiguous tensor.
    """
    height, width = x.shape[-2], x.shape[-1]
    h, w = size[0], size[1]
    if not is_tracing() and (h > height or w > width):
        raise ValueError(
            f"crop_top_left: crop size {(h, w)} is larger than the input size {(height, width)}."
        )
    return F.pad(x, (0, w - width, 0, h - height))
