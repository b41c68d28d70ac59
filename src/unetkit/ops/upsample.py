"""Upsampling (nearest, bilinear, bicubic) as readable NumPy references matching ``F.interpolate``.

Bilinear and bicubic interpolation are separable, so each is written as one interpolation matrix per
axis: ``out[c] = A_h @ x[c] @ A_w.T``, where row ``o`` of ``A`` holds the weights that output ``o`` gives
to the input pixels. The source-coordinate rules copy PyTorch's CPU kernels (half-pixel centres, the
``1 / scale`` step when a scale factor is given, border clamping) so results agree to float64 rounding.
Hand-written on purpose (teaching reference); ``torch.nn.functional.interpolate`` is the oracle in tests.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from unetkit.ops._utils import as_chw, restore_rank, scale_pair

__all__ = ["upsample_bicubic", "upsample_bilinear", "upsample_nearest"]

CUBIC_A = -0.75
"""Free parameter of the Keys cubic convolution kernel; -0.75 like PyTorch (and OpenCV)."""


def _output_size(in_size: int, scale: float) -> int:
    """``floor(in_size * scale)`` like ``F.interpolate(scale_factor=...)``; must be at least 1."""
    out = math.floor(in_size * scale)
    if out < 1:
        raise ValueError(
            f"upsampling a size-{in_size} axis by scale {scale} gives output size {out}; use a larger scale."
        )
    return out


def _source_coordinate(out_size: int, in_size: int, scale: float, align_corners: bool) -> NDArray[np.float64]:
    """Input coordinate of each output pixel centre (PyTorch's ``area_pixel_compute_source_index``).

    align_corners=True maps the corner pixel centres onto each other (step (in-1)/(out-1), the scale
    factor is ignored); otherwise pixel *areas* are aligned: ``src = (dst + 0.5) / scale - 0.5``.
    """
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        step = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        return step * dst
    return (1.0 / scale) * (dst + 0.5) - 0.5


def _floor_and_fraction(
    src: NDArray[np.float64], in_size: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Integer part (at most in_size-1) and fractional part (clipped to [0, 1]) of the source coordinates."""
    index = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    fraction = np.clip(src - index, 0.0, 1.0)
    return index, fraction


def _linear_matrix(in_size: int, out_size: int, scale: float, align_corners: bool) -> NDArray[np.float64]:
    """(out_size, in_size) matrix of 1-D linear interpolation weights."""
    A = np.zeros((out_size, in_size))
    if out_size == in_size:
        # PyTorch copies the input when the size does not change, whatever the scale factor says.
        return np.eye(in_size)
    # Coordinates left of the first pixel centre are clamped to it (the edge value is repeated).
    src = np.maximum(_source_coordinate(out_size, in_size, scale, align_corners), 0.0)
    i0, lam1 = _floor_and_fraction(src, in_size)
    i1 = np.where(i0 < in_size - 1, i0 + 1, i0)
    rows = np.arange(out_size)
    np.add.at(A, (rows, i0), 1.0 - lam1)
    np.add.at(A, (rows, i1), lam1)
    return A


def _cubic_weights(t: NDArray[np.float64], a: float = CUBIC_A) -> NDArray[np.float64]:
    """Keys cubic-convolution weights of the 4 taps at offsets -1, 0, +1, +2 for fractional position ``t``.

    Returns (len(t), 4). Kernel: ``(a+2)|x|^3 - (a+3)|x|^2 + 1`` for ``|x| <= 1`` and
    ``a|x|^3 - 5a|x|^2 + 8a|x| - 4a`` for ``1 < |x| < 2``.
    """

    def near(x: NDArray[np.float64]) -> NDArray[np.float64]:  # distance in [0, 1]
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: NDArray[np.float64]) -> NDArray[np.float64]:  # distance in [1, 2]
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)


def _cubic_matrix(in_size: int, out_size: int, scale: float, align_corners: bool) -> NDArray[np.float64]:
    """(out_size, in_size) matrix of 1-D bicubic interpolation weights (taps beyond the border clamped)."""
    A = np.zeros((out_size, in_size))
    # Unlike linear, cubic does not clamp negative source coordinates; the taps are clamped instead.
    src = _source_coordinate(out_size, in_size, scale, align_corners)
    index, t = _floor_and_fraction(src, in_size)
    weights = _cubic_weights(t)
    rows = np.arange(out_size)
    for tap in range(4):
        # Taps outside the image read the nearest border pixel (PyTorch's upsample_get_value_bounded).
        column = np.clip(index - 1 + tap, 0, in_size - 1)
        np.add.at(A, (rows, column), weights[:, tap])
    return A


def upsample_nearest(x: ArrayLike, scale: float | tuple[float, float]) -> NDArray[np.float64]:
    """Nearest-neighbour upsampling like ``F.interpolate(mode="nearest", scale_factor=scale)``.

    x: (C, H, W) or (H, W); scale: a number or (scale_h, scale_w). Output size is floor(size * scale);
    output pixel ``o`` copies input ``min(floor(o / scale), size - 1)``.
    """
    xs, was_2d = as_chw(x)
    _, H, W = xs.shape
    scale_h, scale_w = scale_pair(scale)

    def source_index(in_size: int, factor: float) -> NDArray[np.int64]:
        out_size = _output_size(in_size, factor)
        # PyTorch's shortcuts for these two sizes ignore the exact scale factor (e.g. 2.05 acts as 2).
        if out_size == in_size:
            return np.arange(out_size)
        if out_size == 2 * in_size:
            return np.arange(out_size) // 2
        # PyTorch computes this index in float32 (`floorf(dst * (float)(1 / scale))`); copying that keeps
        # non-integer scales such as 1.5 in agreement at the rounding boundaries.
        step = np.float32(1.0 / factor)
        src = np.floor(np.arange(out_size, dtype=np.float32) * step).astype(np.int64)
        return np.minimum(src, in_size - 1)

    return restore_rank(xs[:, source_index(H, scale_h)][:, :, source_index(W, scale_w)], was_2d)


def upsample_bilinear(
    x: ArrayLike, scale: float | tuple[float, float], align_corners: bool = False
) -> NDArray[np.float64]:
    """Bilinear upsampling like ``F.interpolate(mode="bilinear", scale_factor=scale, align_corners=...)``.

    x: (C, H, W) or (H, W); returns (C, floor(H*s_h), floor(W*s_w)) (or 2-D), float64.
    """
    xs, was_2d = as_chw(x)
    _, H, W = xs.shape
    scale_h, scale_w = scale_pair(scale)
    A_h = _linear_matrix(H, _output_size(H, scale_h), scale_h, align_corners)
    A_w = _linear_matrix(W, _output_size(W, scale_w), scale_w, align_corners)
    return restore_rank(A_h @ xs @ A_w.T, was_2d)


def upsample_bicubic(
    x: ArrayLike, scale: float | tuple[float, float], align_corners: bool = False
) -> NDArray[np.float64]:
    """Bicubic upsampling like ``F.interpolate(mode="bicubic", scale_factor=scale, align_corners=...)``.

    Keys kernel with a = -0.75 over a 4x4 neighbourhood, border pixels repeated. Like PyTorch the result
    may overshoot the input range (no clamping). x: (C, H, W) or (H, W); returns float64.
    """
    xs, was_2d = as_chw(x)
    _, H, W = xs.shape
    scale_h, scale_w = scale_pair(scale)
    A_h = _cubic_matrix(H, _output_size(H, scale_h), scale_h, align_corners)
    A_w = _cubic_matrix(W, _output_size(W, scale_w), scale_w, align_corners)
    return restore_rank(A_h @ xs @ A_w.T, was_2d)
