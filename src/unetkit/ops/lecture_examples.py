"""The lectures' example arrays, in one place: ``unetkit explain`` prints them and tests/ops checks them.

Each array is read-only, so a caller that edits one by mistake gets an error instead of changing every
later explanation and test. Shapes follow :mod:`unetkit.ops`: (H, W) planes, (C, H, W) for several
channels, conv weights (C_out, C_in, kH, kW).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def _frozen(values: Any) -> NDArray[Any]:
    arr = np.array(values)
    arr.setflags(write=False)
    return arr


# Convolution: 4x4 input, 3x3 kernel, bias 1; stride 2 / padding 1 gives [[7, 8], [15, 13]].
CONV_INPUT = _frozen([[0, 3, 1, 1], [3, 1, 2, 0], [3, 4, 2, 3], [3, 0, 0, 2]])
CONV_KERNEL = _frozen([[1, 1, 1], [1, 1, 1], [0, 1, 0]])
CONV_BIAS = 1

# Multichannel convolution: the top-left 2x2 pixels of a 3-channel image, one 3x3 kernel per channel,
# padding 1, bias 1. The per-channel sums at output (0, 0) are 308, -498 and 164, so the output is -25.
MULTICHANNEL_INPUT = _frozen([[[156, 155], [153, 154]], [[167, 166], [164, 165]], [[163, 162], [160, 161]]])
MULTICHANNEL_KERNELS = _frozen(
    [
        [[-1, -1, 1], [0, 1, -1], [0, 1, 1]],
        [[1, 0, 0], [1, -1, -1], [1, 0, -1]],
        [[0, 1, 1], [0, 1, 0], [1, -1, 1]],
    ]
)
MULTICHANNEL_BIAS = 1

# 5x5 binary image and a 3x3 "X" kernel, stride 1, no padding: [[4, 3, 4], [2, 4, 3], [2, 3, 4]].
CONV5_INPUT = _frozen([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
CONV5_KERNEL = _frozen([[1, 0, 1], [0, 1, 0], [1, 0, 1]])

# Transposed convolution: 2x2 input, 2x2 kernel of ones (bias 1 in the "with bias" example).
CONV_TRANSPOSE_INPUT = _frozen([[2, 2], [1, 4]])
CONV_TRANSPOSE_KERNEL = _frozen(np.ones((2, 2), dtype=np.int64))
CONV_TRANSPOSE_BIAS = 1
# Two input channels, one output channel, 2x2 kernels of ones, stride 2: the channels' scatters add up.
CONV_TRANSPOSE_TWO_CHANNEL_INPUT = _frozen([[[0, 1], [3, 0]], [[1, 1], [2, 4]]])
CONV_TRANSPOSE_TWO_CHANNEL_KERNEL = _frozen(np.ones((2, 1, 2, 2), dtype=np.int64))

# Convolution as a matrix: a 3x3 kernel over a 4x4 input gives the 4x16 matrix C.
MATRIX_KERNEL = _frozen([[1, 4, 1], [1, 4, 3], [3, 3, 1]])
MATRIX_INPUT_SHAPE = (4, 4)

# Max pooling 2x2 / stride 2 with indices, then max-unpooling / bed of nails of SMALL.
UNPOOL_INPUT = _frozen([[1, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]])
SMALL = _frozen([[1, 2], [3, 4]])

# 6x6 pooling input: max pool 2x2 / stride 2 gives [[3, 3, 3], [4, 4, 4], [4, 4, 4]]; average pool with
# kernel (3, 2) / stride 2 gives the exact sixths [[12, 10, 5], [11, 10, 8]] / 6.
POOL_INPUT = _frozen(
    [
        [3, 2, 1, 0, 0, 3],
        [0, 3, 3, 1, 1, 0],
        [3, 1, 4, 1, 1, 0],
        [2, 4, 1, 1, 0, 4],
        [1, 0, 3, 0, 3, 0],
        [3, 4, 4, 3, 3, 4],
    ]
)
AVG_POOL_KERNEL = (3, 2)
AVG_POOL_STRIDE = 2

# Bilinear x2 of [[1, 5], [4, 8]] is exact in binary fractions (quarters); SMALL is the other example.
BILINEAR_INPUT = _frozen([[1, 5], [4, 8]])

# Per-pixel cross-entropy: logits of 3 classes over a 2x3 image (class, row, column) and its label map;
# 255 marks a pixel without a label (ignore_index), left out of the mean.
CROSS_ENTROPY_LOGITS = _frozen(
    [
        [[2.0, 0.0, 1.0], [0.5, 1.0, 0.0]],
        [[1.0, 2.0, 0.0], [2.0, 0.0, 1.0]],
        [[0.0, 1.0, 3.0], [0.5, 2.0, 0.0]],
    ]
)
CROSS_ENTROPY_LABELS = _frozen([[0, 1, 2], [1, 255, 0]])
CROSS_ENTROPY_NUM_CLASSES = 3

__all__ = [
    "AVG_POOL_KERNEL",
    "AVG_POOL_STRIDE",
    "BILINEAR_INPUT",
    "CONV5_INPUT",
    "CONV5_KERNEL",
    "CONV_BIAS",
    "CONV_INPUT",
    "CONV_KERNEL",
    "CONV_TRANSPOSE_BIAS",
    "CONV_TRANSPOSE_INPUT",
    "CONV_TRANSPOSE_KERNEL",
    "CONV_TRANSPOSE_TWO_CHANNEL_INPUT",
    "CONV_TRANSPOSE_TWO_CHANNEL_KERNEL",
    "CROSS_ENTROPY_LABELS",
    "CROSS_ENTROPY_LOGITS",
    "CROSS_ENTROPY_NUM_CLASSES",
    "MATRIX_INPUT_SHAPE",
    "MATRIX_KERNEL",
    "MULTICHANNEL_BIAS",
    "MULTICHANNEL_INPUT",
    "MULTICHANNEL_KERNELS",
    "POOL_INPUT",
    "SMALL",
    "UNPOOL_INPUT",
]
