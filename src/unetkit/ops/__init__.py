"""Lecture math as plain NumPy reference implementations (single images, (C, H, W) or (H, W)).

Clarity first: loops and im2col instead of speed. Every op agrees with its PyTorch counterpart to
float64 rounding (see tests/ops) and reproduces the lecture examples exactly; the examples' arrays live in
:mod:`unetkit.ops.lecture_examples`. No torch import here.
"""

from __future__ import annotations

from unetkit.ops.conv import conv2d, conv_output_size, im2col
from unetkit.ops.conv_transpose import (
    conv_matrix,
    conv_transpose2d,
    conv_transpose2d_matmul,
    conv_transpose_output_size,
)
from unetkit.ops.cross_entropy import cross_entropy, cross_entropy_steps, one_hot, softmax
from unetkit.ops.pooling import avg_pool2d, bed_of_nails_unpool, max_pool2d, max_unpool2d
from unetkit.ops.upsample import upsample_bicubic, upsample_bilinear, upsample_nearest

__all__ = [
    "avg_pool2d",
    "bed_of_nails_unpool",
    "conv2d",
    "conv_matrix",
    "conv_output_size",
    "conv_transpose2d",
    "conv_transpose2d_matmul",
    "conv_transpose_output_size",
    "cross_entropy",
    "cross_entropy_steps",
    "im2col",
    "max_pool2d",
    "max_unpool2d",
    "one_hot",
    "softmax",
    "upsample_bicubic",
    "upsample_bilinear",
    "upsample_nearest",
]
