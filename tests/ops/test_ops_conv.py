"""conv2d / conv_output_size against torch.nn.functional.conv2d (float64, random seeded inputs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unetkit.ops import conv2d, conv_output_size, im2col

RTOL = 1e-10

# (stride, padding, dilation, kernel (kH, kW)): odd/even, square/rectangular, asymmetric pairs.
GEOMETRIES = [
    (1, 0, 1, (3, 3)),
    (2, 1, 1, (3, 3)),
    (1, 1, 2, (3, 3)),
    ((2, 1), (0, 2), 1, (2, 3)),
    (3, 2, (1, 2), (4, 2)),
    (2, 0, 1, (1, 1)),
    (1, (1, 0), (2, 1), (2, 2)),
]
# (H, W), C_in, C_out, groups: odd/even sizes paired with single-channel, dense, grouped and depthwise.
CASES = [((5, 5), 1, 1, 1), ((6, 7), 3, 2, 1), ((8, 6), 4, 6, 2), ((7, 8), 4, 4, 4)]


@pytest.mark.parametrize(("shape", "c_in", "c_out", "groups"), CASES)
@pytest.mark.parametrize(("stride", "padding", "dilation", "kernel"), GEOMETRIES)
def test_conv2d_matches_torch(
    shape: tuple[int, int],
    c_in: int,
    c_out: int,
    groups: int,
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    dilation: int | tuple[int, int],
    kernel: tuple[int, int],
) -> None:
    rng = np.random.default_rng(hash((shape, c_in, c_out, groups, kernel)) % 2**32)
    x = rng.standard_normal((c_in, *shape))
    w = rng.standard_normal((c_out, c_in // groups, *kernel))
    b = rng.standard_normal(c_out)
    ours = conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    ref = F.conv2d(
        torch.from_numpy(x)[None], torch.from_numpy(w), torch.from_numpy(b), stride, padding, dilation, groups
    )[0].numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-12)


def test_conv2d_2d_input_returns_2d_and_matches_torch() -> None:
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((7, 6)), rng.standard_normal((3, 3))
    ours = conv2d(x, k, 0.5, stride=2, padding=1)
    ref = F.conv2d(
        torch.from_numpy(x)[None, None],
        torch.from_numpy(k)[None, None],
        torch.tensor([0.5], dtype=torch.float64),
        2,
        1,
    )
    assert ours.ndim == 2
    np.testing.assert_allclose(ours, ref[0, 0].numpy(), rtol=RTOL)


def test_conv2d_integer_input_computes_in_float64() -> None:
    out = conv2d(np.arange(9).reshape(3, 3), np.ones((2, 2), dtype=np.int32))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[8, 12], [20, 24]])


@pytest.mark.parametrize(
    ("M", "K", "S", "P", "D", "expected"),
    [(4, 3, 2, 1, 1, 2), (5, 3, 1, 0, 1, 3), (7, 3, 2, 0, 2, 2), (32, 3, 1, 1, 1, 32), (6, 2, 2, 0, 1, 3)],
)
def test_conv_output_size_formula(M: int, K: int, S: int, P: int, D: int, expected: int) -> None:
    assert conv_output_size(M, K, S, P, D) == expected
    # Cross-check with the real op.
    out = F.conv2d(torch.zeros(1, 1, M, M), torch.zeros(1, 1, K, K), stride=S, padding=P, dilation=D)
    assert out.shape[-1] == expected


def test_im2col_columns_are_the_windows() -> None:
    x = np.arange(16.0).reshape(1, 4, 4)
    cols = im2col(x, (2, 2), (2, 2), (1, 1))
    assert cols.shape == (4, 4)
    # Column 0 is the top-left 2x2 window, column 3 the bottom-right one (row-major taps).
    np.testing.assert_array_equal(cols[:, 0], [0, 1, 4, 5])
    np.testing.assert_array_equal(cols[:, 3], [10, 11, 14, 15])


def test_kernel_larger_than_padded_input_names_the_sizes() -> None:
    with pytest.raises(ValueError, match=r"effective kernel size D\*\(K-1\)\+1 = 5 .*padded input M\+2P = 4"):
        conv2d(np.zeros((2, 2)), np.zeros((5, 5)), padding=1)
    with pytest.raises(ValueError, match=r"output size would be 0.*increase padding"):
        conv_output_size(4, 3, D=2)


def test_conv2d_rejects_bad_channels_and_groups() -> None:
    with pytest.raises(ValueError, match=r"weight has 3 input channels per group but x has 4 channels"):
        conv2d(np.zeros((4, 5, 5)), np.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="groups=3 must divide"):
        conv2d(np.zeros((4, 5, 5)), np.zeros((3, 1, 3, 3)), groups=3)
    with pytest.raises(ValueError, match=r"pass x as \(1, H, W\)"):
        conv2d(np.zeros((5, 5)), np.zeros((2, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"shape \(C, H, W\) or \(H, W\), got an array of shape \(5,\)"):
        conv2d(np.zeros(5), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"bias must be a scalar or have shape \(2,\)"):
        conv2d(np.zeros((1, 5, 5)), np.zeros((2, 1, 3, 3)), bias=np.zeros(3))


def test_conv2d_rejects_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        conv2d(np.zeros((5, 5)), np.zeros((3, 3)), stride=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        conv2d(np.zeros((5, 5)), np.zeros((3, 3)), padding=(1, -1))
    with pytest.raises(TypeError, match="dilation must be an int or a pair"):
        conv2d(np.zeros((5, 5)), np.zeros((3, 3)), dilation=1.5)  # type: ignore[arg-type]
