"""conv_transpose2d (scatter form) and the conv-matrix form against torch.nn.functional."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from unetkit.ops import (
    conv2d,
    conv_matrix,
    conv_transpose2d,
    conv_transpose2d_matmul,
    conv_transpose_output_size,
)

RTOL = 1e-10

# (stride, padding, output_padding, dilation, kernel (kH, kW))
GEOMETRIES = [
    (1, 0, 0, 1, (3, 3)),
    (2, 0, 1, 1, (2, 2)),
    (2, 1, 1, 1, (3, 3)),
    ((2, 3), (1, 0), (0, 2), 1, (3, 2)),
    (1, 1, 1, 2, (3, 3)),
    (3, 2, 2, (1, 2), (4, 3)),
]
# (H, W), C_in, C_out, groups: odd/even sizes paired with single-channel, dense, grouped and depthwise.
CASES = [((3, 3), 1, 1, 1), ((4, 5), 2, 3, 1), ((5, 2), 4, 6, 2), ((2, 4), 3, 3, 3)]


@pytest.mark.parametrize(("shape", "c_in", "c_out", "groups"), CASES)
@pytest.mark.parametrize(("stride", "padding", "output_padding", "dilation", "kernel"), GEOMETRIES)
def test_conv_transpose2d_matches_torch(
    shape: tuple[int, int],
    c_in: int,
    c_out: int,
    groups: int,
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    output_padding: int | tuple[int, int],
    dilation: int | tuple[int, int],
    kernel: tuple[int, int],
) -> None:
    rng = np.random.default_rng(hash((shape, c_in, c_out, groups, kernel)) % 2**32)
    x = rng.standard_normal((c_in, *shape))
    w = rng.standard_normal((c_in, c_out // groups, *kernel))  # PyTorch layout (C_in, C_out/groups, kH, kW)
    b = rng.standard_normal(c_out)
    ours = conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups)
    ref = F.conv_transpose2d(
        torch.from_numpy(x)[None],
        torch.from_numpy(w),
        torch.from_numpy(b),
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )[0].numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize(
    ("M", "K", "S", "P", "D", "op"),
    [(2, 2, 1, 0, 1, 0), (2, 2, 2, 1, 1, 0), (3, 3, 2, 1, 1, 1), (4, 3, 3, 0, 2, 1)],
)
def test_conv_transpose_output_size_matches_torch(M: int, K: int, S: int, P: int, D: int, op: int) -> None:
    expected = (M - 1) * S - 2 * P + D * (K - 1) + op + 1
    got = conv_transpose_output_size(M, K, S, P, D, op)
    ref = F.conv_transpose2d(torch.zeros(1, 1, M, M), torch.zeros(1, 1, K, K), None, S, P, op, 1, D)
    assert got == expected == ref.shape[-1]


@pytest.mark.parametrize(
    ("in_shape", "kernel_shape", "stride", "padding", "dilation"),
    [
        ((4, 4), (3, 3), 1, 0, 1),
        ((5, 4), (3, 3), 2, 1, 1),
        ((6, 5), (2, 3), (1, 2), (1, 0), (2, 1)),
        ((4, 4), (3, 3), 2, 1, 1),
    ],
)
def test_conv_matrix_is_conv_and_its_transpose_is_conv_transpose(
    in_shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    dilation: int | tuple[int, int],
) -> None:
    rng = np.random.default_rng(7)
    k = rng.standard_normal(kernel_shape)
    x = rng.standard_normal(in_shape)
    C = conv_matrix(k, in_shape, stride, padding, dilation)
    y_conv = conv2d(x, k, stride=stride, padding=padding, dilation=dilation)
    assert C.shape == (y_conv.size, x.size)
    np.testing.assert_allclose(C @ x.ravel(), y_conv.ravel(), rtol=RTOL, atol=1e-12)

    y = rng.standard_normal(y_conv.shape)
    via_matrix = conv_transpose2d_matmul(y, k, in_shape, stride, padding, dilation)
    np.testing.assert_allclose(via_matrix.ravel(), C.T @ y.ravel(), rtol=RTOL, atol=1e-12)
    # The scatter form must give the same: output_padding selects the (larger) input shape C was built for.
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    natural = (
        conv_transpose_output_size(y.shape[0], kernel_shape[0], sh, ph, dh),
        conv_transpose_output_size(y.shape[1], kernel_shape[1], sw, pw, dw),
    )
    output_padding = (in_shape[0] - natural[0], in_shape[1] - natural[1])
    scatter = conv_transpose2d(y, k, None, stride, padding, output_padding, dilation)
    np.testing.assert_allclose(scatter, via_matrix, rtol=RTOL, atol=1e-12)
    ref = F.conv_transpose2d(
        torch.from_numpy(y)[None, None],
        torch.from_numpy(k)[None, None],
        None,
        stride,
        padding,
        output_padding,
        1,
        dilation,
    )[0, 0].numpy()
    np.testing.assert_allclose(via_matrix, ref, rtol=RTOL, atol=1e-12)


@settings(max_examples=15, deadline=None, database=None)
@given(
    h=st.integers(3, 7),
    w=st.integers(3, 7),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.integers(0, 1),
    seed=st.integers(0, 2**16),
)
def test_conv_transpose_is_the_adjoint_of_conv(
    h: int, w: int, k: int, stride: int, padding: int, seed: int
) -> None:
    """<conv(x), y> == <x, conv_transpose(y)>: the defining property of the transpose."""
    rng = np.random.default_rng(seed)
    kernel = rng.standard_normal((k, k))
    x = rng.standard_normal((h, w))
    y_shape = conv2d(x, kernel, stride=stride, padding=padding).shape
    y = rng.standard_normal(y_shape)
    lhs = float(np.sum(conv2d(x, kernel, stride=stride, padding=padding) * y))
    rhs = float(np.sum(x * conv_transpose2d_matmul(y, kernel, (h, w), stride, padding)))
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-12)


def test_conv_transpose_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"output size would be 0 .*reduce padding"):
        conv_transpose2d(np.ones((1, 1)), np.ones((2, 2)), padding=1)
    with pytest.raises(
        ValueError, match="output_padding=2 must be smaller than the stride S=2 or the dilation D=1"
    ):
        conv_transpose2d(np.ones((2, 2)), np.ones((2, 2)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="weight has 2 input channels but x has 3"):
        conv_transpose2d(np.ones((3, 2, 2)), np.ones((2, 1, 2, 2)))
    with pytest.raises(ValueError, match="groups=2 must divide the number of input channels"):
        conv_transpose2d(np.ones((3, 2, 2)), np.ones((3, 1, 2, 2)), groups=2)
    with pytest.raises(ValueError, match=r"y has shape \(3, 3\) but .*gives \(2, 2\)"):
        conv_transpose2d_matmul(np.ones((3, 3)), np.ones((3, 3)), (4, 4))
    with pytest.raises(ValueError, match=r"single-channel \(kH, kW\)"):
        conv_matrix(np.ones((1, 3, 3)), (4, 4))
