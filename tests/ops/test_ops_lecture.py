"""The lecture's worked examples, reproduced exactly (integer / binary-fraction results compared with ==)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unetkit.ops import (
    avg_pool2d,
    bed_of_nails_unpool,
    conv2d,
    conv_matrix,
    conv_transpose2d,
    conv_transpose2d_matmul,
    max_pool2d,
    max_unpool2d,
    upsample_bicubic,
    upsample_bilinear,
    upsample_nearest,
)
from unetkit.ops.lecture_examples import (
    BILINEAR_INPUT,
    CONV5_INPUT,
    CONV5_KERNEL,
    CONV_INPUT,
    CONV_KERNEL,
    CONV_TRANSPOSE_BIAS,
    CONV_TRANSPOSE_INPUT,
    CONV_TRANSPOSE_KERNEL,
    CONV_TRANSPOSE_TWO_CHANNEL_INPUT,
    CONV_TRANSPOSE_TWO_CHANNEL_KERNEL,
    MATRIX_KERNEL,
    MULTICHANNEL_BIAS,
    MULTICHANNEL_INPUT,
    MULTICHANNEL_KERNELS,
    POOL_INPUT,
    SMALL,
    UNPOOL_INPUT,
)

# The lecture's arrays have one home, shared with `unetkit explain`; expected results stay written here.
ONES2 = CONV_TRANSPOSE_KERNEL
CT_INPUT = CONV_TRANSPOSE_INPUT


def test_conv_4x4_padding1_stride2_bias1() -> None:
    out = conv2d(CONV_INPUT, CONV_KERNEL, bias=1, stride=2, padding=1)
    np.testing.assert_array_equal(out, [[7, 8], [15, 13]])


def test_conv_multichannel_top_left_output() -> None:
    # The lecture shows the padded 3x3 top-left patch of each channel; the real pixels are the 2x2 corner.
    x, kernels = MULTICHANNEL_INPUT, MULTICHANNEL_KERNELS
    # groups=3: each kernel only sees its own channel -> the per-channel sums.
    per_channel = conv2d(x, kernels[:, np.newaxis], padding=1, groups=3)[:, 0, 0]
    np.testing.assert_array_equal(per_channel, [308, -498, 164])
    out = conv2d(x, kernels[np.newaxis], bias=MULTICHANNEL_BIAS, padding=1)
    assert out[0, 0, 0] == -25


def test_conv_5x5_first_output() -> None:
    out = conv2d(CONV5_INPUT, CONV5_KERNEL)
    assert out[0, 0] == 4
    np.testing.assert_array_equal(out, [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_max_pool_2x2_stride2() -> None:
    values, _ = max_pool2d(POOL_INPUT, 2, 2)
    np.testing.assert_array_equal(values, [[3, 3, 3], [4, 4, 4], [4, 4, 4]])


def test_avg_pool_kernel_3x2_stride2_exact_fractions() -> None:
    out = avg_pool2d(POOL_INPUT, (3, 2), 2)
    sixths = [[12, 10, 5], [11, 10, 8]]
    assert out.shape == (2, 3)
    # Each entry is the correctly rounded float of n/6 ...
    np.testing.assert_array_equal(out, np.array(sixths) / 6)
    # ... and recovers exactly the fraction n/6.
    assert [[Fraction(v).limit_denominator(6) for v in row] for row in out] == [
        [Fraction(n, 6) for n in row] for row in sixths
    ]


def test_conv_transpose_lecture_examples() -> None:
    np.testing.assert_array_equal(conv_transpose2d(CT_INPUT, ONES2), [[2, 4, 2], [3, 9, 6], [1, 5, 4]])
    np.testing.assert_array_equal(
        conv_transpose2d(CT_INPUT, ONES2, bias=CONV_TRANSPOSE_BIAS), [[3, 5, 3], [4, 10, 7], [2, 6, 5]]
    )
    np.testing.assert_array_equal(conv_transpose2d(CT_INPUT, ONES2, padding=1), [[9]])
    np.testing.assert_array_equal(conv_transpose2d(CT_INPUT, ONES2, padding=(1, 0)), [[3, 9, 6]])
    np.testing.assert_array_equal(
        conv_transpose2d(CT_INPUT, ONES2, stride=2), [[2, 2, 2, 2], [2, 2, 2, 2], [1, 1, 4, 4], [1, 1, 4, 4]]
    )
    np.testing.assert_array_equal(conv_transpose2d(CT_INPUT, ONES2, stride=2, padding=1), [[2, 2], [1, 4]])


def test_conv_transpose_two_input_channels() -> None:
    out = conv_transpose2d(CONV_TRANSPOSE_TWO_CHANNEL_INPUT, CONV_TRANSPOSE_TWO_CHANNEL_KERNEL, stride=2)
    np.testing.assert_array_equal(out, [[[1, 1, 2, 2], [1, 1, 2, 2], [5, 5, 4, 4], [5, 5, 4, 4]]])


def test_conv_matrix_lecture_kernel() -> None:
    C = conv_matrix(MATRIX_KERNEL, (4, 4))
    assert C.shape == (4, 16)
    np.testing.assert_array_equal(C[0], [1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0, 0, 0, 0, 0])
    # The other rows are the same kernel shifted by one column / one row.
    np.testing.assert_array_equal(C[1], np.roll(C[0], 1))
    np.testing.assert_array_equal(C[2], np.roll(C[0], 4))
    np.testing.assert_array_equal(C[3], np.roll(C[0], 5))

    rng = np.random.default_rng(11)
    k_t = torch.from_numpy(MATRIX_KERNEL.astype(np.float64))[None, None]
    for stride, padding in [(1, 0), (2, 1)]:
        C = conv_matrix(MATRIX_KERNEL, (4, 4), stride, padding)
        x = rng.integers(-5, 6, size=(4, 4)).astype(np.float64)
        np.testing.assert_array_equal(
            (C @ x.ravel()).reshape(2, 2), conv2d(x, MATRIX_KERNEL, stride=stride, padding=padding)
        )
        y = rng.integers(-5, 6, size=(2, 2)).astype(np.float64)
        transposed = conv_transpose2d_matmul(y, MATRIX_KERNEL, (4, 4), stride, padding)
        np.testing.assert_array_equal(transposed, (C.T @ y.ravel()).reshape(4, 4))
        # stride 2 / padding 1 maps 3x3 back to 3x3 naturally; output_padding=1 gives the 4x4 input back.
        output_padding = 0 if stride == 1 else 1
        np.testing.assert_array_equal(
            transposed, conv_transpose2d(y, MATRIX_KERNEL, None, stride, padding, output_padding)
        )
        ref = F.conv_transpose2d(torch.from_numpy(y)[None, None], k_t, None, stride, padding, output_padding)
        np.testing.assert_array_equal(transposed, ref[0, 0].numpy())


def test_max_pool_then_unpool_and_upsampling_of_2x2() -> None:
    values, indices = max_pool2d(UNPOOL_INPUT, 2)
    np.testing.assert_array_equal(values, [[5, 6], [7, 8]])
    np.testing.assert_array_equal(indices, [[5, 2], [12, 15]])
    small = SMALL
    np.testing.assert_array_equal(
        max_unpool2d(small, indices, (4, 4)), [[0, 0, 2, 0], [0, 1, 0, 0], [0, 0, 0, 0], [3, 0, 0, 4]]
    )
    np.testing.assert_array_equal(
        bed_of_nails_unpool(small), [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    )
    np.testing.assert_array_equal(
        upsample_nearest(small, 2), [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    )


def test_bilinear_x2_exact() -> None:
    np.testing.assert_array_equal(
        upsample_bilinear(BILINEAR_INPUT, 2),
        [[1, 2, 4, 5], [1.75, 2.75, 4.75, 5.75], [3.25, 4.25, 6.25, 7.25], [4, 5, 7, 8]],
    )
    np.testing.assert_array_equal(
        upsample_bilinear(SMALL, 2),
        [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]],
    )


def test_bicubic_x2_overshoots_the_input_range() -> None:
    out = upsample_bicubic(SMALL, 2)
    # Keys' cubic weights at the -0.25 / 1.25 border coordinates are 1.10546875 and -0.10546875 (exact
    # binary fractions), so the corners overshoot 1..4 to 175/256 and 4 + 81/256.
    assert out[0, 0] == 175 / 256 and round(out[0, 0], 3) == 0.684
    assert out[-1, -1] == 4 + 81 / 256 and round(out[-1, -1], 3) == 4.316
    ref = F.interpolate(torch.tensor(SMALL, dtype=torch.float64)[None, None], scale_factor=2, mode="bicubic")
    np.testing.assert_allclose(out, ref[0, 0].numpy(), rtol=0, atol=1e-12)


def test_lecture_arrays_are_read_only() -> None:
    """One home for the examples: a test or an explanation that wrote into one would change all the others."""
    with pytest.raises(ValueError, match="read-only"):
        CONV_INPUT[0, 0] = 9
    with pytest.raises(ValueError, match="read-only"):
        POOL_INPUT[0, 0] = 9
