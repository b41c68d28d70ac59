"""Pooling and un-pooling as readable NumPy references (max/avg pooling, max-unpooling, bed of nails).

Hand-written to show the lecture arithmetic; the tests compare with ``torch.nn.functional``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from unetkit.ops._utils import IntPair, as_chw, restore_rank, to_pair
from unetkit.ops.conv import conv_output_size, im2col

__all__ = ["avg_pool2d", "bed_of_nails_unpool", "max_pool2d", "max_unpool2d"]


def _pool_geometry(
    shape: tuple[int, int], kernel_size: IntPair, stride: IntPair | None, padding: IntPair
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate pooling arguments; return (kernel, stride, padding, output size) as (h, w) pairs."""
    kernel = to_pair(kernel_size, "kernel_size", minimum=1)
    # PyTorch's default: stride = kernel size, i.e. non-overlapping windows.
    steps = kernel if stride is None else to_pair(stride, "stride", minimum=1)
    pads = to_pair(padding, "padding", minimum=0)
    for axis, (k, p) in enumerate(zip(kernel, pads)):
        # Same rule as PyTorch: a window must always contain at least half real (non-padding) pixels.
        if p > k // 2:
            raise ValueError(
                f"padding {p} along axis {axis} is more than half the kernel size {k}; "
                f"use padding <= {k // 2}."
            )
    out = (
        conv_output_size(shape[0], kernel[0], steps[0], pads[0]),
        conv_output_size(shape[1], kernel[1], steps[1], pads[1]),
    )
    return kernel, steps, pads, out


def max_pool2d(
    x: ArrayLike, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Max pooling like ``F.max_pool2d(..., return_indices=True)``.

    x: (C, H, W) or (H, W). Returns ``(values, indices)``, both (C, out_h, out_w) (or (out_h, out_w)):
    ``indices`` are flat positions ``h * W + w`` into each channel of the *unpadded* input, as PyTorch
    returns them; ties go to the first maximum in row-major window order (as on PyTorch's CPU).
    """
    xs, was_2d = as_chw(x)
    C, H, W = xs.shape
    (kh, kw), (sh, sw), (ph, pw), (out_h, out_w) = _pool_geometry((H, W), kernel_size, stride, padding)
    # Pad with -inf so that padding can never win the max.
    x_padded = np.pad(xs, ((0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    windows = im2col(x_padded, (kh, kw), (sh, sw), (1, 1)).reshape(C, kh * kw, out_h, out_w)
    tap = np.argmax(windows, axis=1)  # (C, out_h, out_w): which of the kh*kw window taps is the max
    values = np.take_along_axis(windows, tap[:, np.newaxis], axis=1)[:, 0]
    # Window tap (i, j) of output (oh, ow) is input pixel (oh*sh + i - ph, ow*sw + j - pw).
    rows = np.arange(out_h)[:, np.newaxis] * sh + tap // kw - ph
    columns = np.arange(out_w)[np.newaxis, :] * sw + tap % kw - pw
    indices = (rows * W + columns).astype(np.int64)
    return restore_rank(values, was_2d), restore_rank(indices, was_2d)


def avg_pool2d(
    x: ArrayLike,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    count_include_pad: bool = True,
) -> NDArray[np.float64]:
    """Average pooling like ``F.avg_pool2d`` (zero padding; the kernel may be rectangular, e.g. (3, 2)).

    x: (C, H, W) or (H, W); returns (C, out_h, out_w) (or (out_h, out_w)). With ``count_include_pad``
    (PyTorch's default) every window is divided by kH*kW, otherwise by its number of real pixels.
    """
    xs, was_2d = as_chw(x)
    C, H, W = xs.shape
    (kh, kw), (sh, sw), (ph, pw), (out_h, out_w) = _pool_geometry((H, W), kernel_size, stride, padding)
    x_padded = np.pad(xs, ((0, 0), (ph, ph), (pw, pw)))
    windows = im2col(x_padded, (kh, kw), (sh, sw), (1, 1)).reshape(C, kh * kw, out_h, out_w)
    if count_include_pad:
        divisor: NDArray[np.float64] | float = float(kh * kw)
    else:
        real = np.pad(np.ones((1, H, W)), ((0, 0), (ph, ph), (pw, pw)))
        divisor = im2col(real, (kh, kw), (sh, sw), (1, 1)).sum(axis=0).reshape(out_h, out_w)
    # Sum first, divide once: integer lecture inputs then give correctly rounded fractions like 10/6.
    return restore_rank(windows.sum(axis=1) / divisor, was_2d)


def max_unpool2d(x: ArrayLike, indices: ArrayLike, output_size: Sequence[int]) -> NDArray[np.float64]:
    """Max-unpooling like ``F.max_unpool2d``: put each value back at its recorded position, zeros elsewhere.

    x, indices: (C, h, w) or (h, w), e.g. the output of :func:`max_pool2d`; ``output_size``: (H, W) of the
    unpooled result (extra leading entries, as in ``x.shape`` of the pooled input, are ignored).
    """
    xs, was_2d = as_chw(x)
    idx = np.asarray(indices)
    if idx.shape != np.shape(x):
        raise ValueError(f"indices must have the same shape as x {np.shape(x)}, got {idx.shape}.")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices must be integers (flat positions h * W + w), got dtype {idx.dtype}.")
    if len(output_size) < 2:
        raise ValueError(f"output_size must be (H, W), got {output_size!r}.")
    out_h, out_w = to_pair(tuple(output_size)[-2:], "output_size", minimum=1)
    C = xs.shape[0]
    flat_idx = idx.reshape(C, -1).astype(np.int64)
    if flat_idx.size and (flat_idx.min() < 0 or flat_idx.max() >= out_h * out_w):
        raise ValueError(
            f"indices must lie in [0, {out_h * out_w}) for output_size ({out_h}, {out_w}), got values in "
            f"[{flat_idx.min()}, {flat_idx.max()}]; pass the unpooled input's (H, W) as output_size."
        )
    out = np.zeros((C, out_h * out_w))
    out[np.arange(C)[:, np.newaxis], flat_idx] = xs.reshape(C, -1)
    return restore_rank(out.reshape(C, out_h, out_w), was_2d)


def bed_of_nails_unpool(x: ArrayLike, factor: IntPair = 2) -> NDArray[np.float64]:
    """Bed-of-nails un-pooling: each value goes to the top-left corner of its factor x factor block.

    x: (C, h, w) or (h, w); returns (C, h*fh, w*fw) (or (h*fh, w*fw)), zeros everywhere else.
    """
    xs, was_2d = as_chw(x)
    fh, fw = to_pair(factor, "factor", minimum=1)
    C, h, w = xs.shape
    out = np.zeros((C, h * fh, w * fw))
    out[:, ::fh, ::fw] = xs
    return restore_rank(out, was_2d)
