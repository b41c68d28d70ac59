"""Transposed convolution computed two ways, as in the lecture.

(a) scatter form, ``conv_transpose2d``: every input value multiplies the whole kernel, the product is
    added into the output at ``stride`` * its position, and ``padding`` rows/columns are cropped at the end;
(b) matrix form, ``conv_matrix`` + ``conv_transpose2d_matmul``: a convolution is ``vec(y) = C @ vec(x)``,
    and the transposed convolution is literally ``vec(x') = C.T @ vec(y)``.

Hand-written reference code (the fast version is ``torch.nn.functional.conv_transpose2d``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from unetkit.ops._utils import IntPair, as_chw, as_weight4d, check_int, restore_rank, to_pair
from unetkit.ops.conv import _bias_vector, conv_output_size

__all__ = ["conv_matrix", "conv_transpose2d", "conv_transpose2d_matmul", "conv_transpose_output_size"]


def conv_transpose_output_size(
    M: int, K: int, S: int = 1, P: int = 0, D: int = 1, output_padding: int = 0
) -> int:
    """Output length of a transposed convolution: ``(M-1)S - 2P + D(K-1) + output_padding + 1``.

    ``output_padding`` (one extra row/column at the bottom/right) must be smaller than the stride or
    the dilation, like in PyTorch; it picks among the input sizes that a stride-S conv maps to M.
    """
    M = check_int(M, "input size M", minimum=1)
    K = check_int(K, "kernel size K", minimum=1)
    S = check_int(S, "stride S", minimum=1)
    P = check_int(P, "padding P", minimum=0)
    D = check_int(D, "dilation D", minimum=1)
    output_padding = check_int(output_padding, "output_padding", minimum=0)
    if output_padding >= max(S, D):
        raise ValueError(
            f"output_padding={output_padding} must be smaller than the stride S={S} or the dilation D={D}."
        )
    out = (M - 1) * S - 2 * P + D * (K - 1) + output_padding + 1
    if out <= 0:
        raise ValueError(
            f"transposed conv output size would be {out} (M={M}, K={K}, S={S}, P={P}, D={D}, "
            f"output_padding={output_padding}): padding P crops more than the uncropped size "
            f"{out + 2 * P}; reduce padding P."
        )
    return out


def conv_transpose2d(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> NDArray[np.float64]:
    """Transposed convolution in scatter form, like ``torch.nn.functional.conv_transpose2d``.

    x: (C_in, H, W), or (H, W) for a single plane. weight: (C_in, C_out/groups, kH, kW) (PyTorch layout),
    or (kH, kW) for a single-channel kernel. bias: None, a scalar or (C_out,). Returns
    (C_out, out_h, out_w) float64, or (out_h, out_w) when ``x`` was (H, W) (then C_out must be 1).
    """
    xs, x_was_2d = as_chw(x)
    w = as_weight4d(weight, "(C_in, C_out/groups, kH, kW)")
    sh, sw = to_pair(stride, "stride", minimum=1)
    ph, pw = to_pair(padding, "padding", minimum=0)
    oph, opw = to_pair(output_padding, "output_padding", minimum=0)
    dh, dw = to_pair(dilation, "dilation", minimum=1)
    groups = check_int(groups, "groups", minimum=1)
    c_in, H, W = xs.shape
    w_in, out_per_group, kh, kw = w.shape
    if w_in != c_in:
        raise ValueError(
            f"weight has {w_in} input channels but x has {c_in}; weight must be (C_in, C_out/groups, kH, kW)."
        )
    if c_in % groups:
        raise ValueError(f"groups={groups} must divide the number of input channels ({c_in}).")
    c_out = out_per_group * groups
    if x_was_2d and c_out != 1:
        raise ValueError(
            f"x was given as (H, W) but weight gives {c_out} output channels; pass x as (1, H, W) instead."
        )
    out_h = conv_transpose_output_size(H, kh, sh, ph, dh, oph)
    out_w = conv_transpose_output_size(W, kw, sw, pw, dw, opw)

    # Scatter into the uncropped canvas (output_padding rows/columns stay zero at the bottom/right),
    # then crop `padding` from every side.
    full = np.zeros((c_out, out_h + 2 * ph, out_w + 2 * pw))
    in_per_group = c_in // groups
    for g in range(groups):
        x_g = xs[g * in_per_group : (g + 1) * in_per_group]  # (C_in/groups, H, W)
        w_g = w[g * in_per_group : (g + 1) * in_per_group]  # (C_in/groups, C_out/groups, kH, kW)
        out_channels = slice(g * out_per_group, (g + 1) * out_per_group)
        for i in range(H):
            for j in range(W):
                # Input pixel (i, j) of every channel times its kernel, summed over the input channels.
                stamp = np.tensordot(x_g[:, i, j], w_g, axes=1)  # (C_out/groups, kH, kW)
                rows = slice(i * sh, i * sh + (kh - 1) * dh + 1, dh)
                columns = slice(j * sw, j * sw + (kw - 1) * dw + 1, dw)
                full[out_channels, rows, columns] += stamp
    out = full[:, ph : ph + out_h, pw : pw + out_w]
    out = out + _bias_vector(bias, c_out)[:, np.newaxis, np.newaxis]
    return restore_rank(out, x_was_2d)


def conv_matrix(
    kernel: ArrayLike,
    input_shape: tuple[int, int],
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> NDArray[np.float64]:
    """The convolution matrix C with ``vec(conv2d(x, kernel)) == C @ vec(x)`` (row-major ``vec``).

    kernel: (kH, kW) single-channel kernel; input_shape: (in_h, in_w). Returns C of shape
    (out_h*out_w, in_h*in_w): row ``oh*out_w + ow`` is the kernel placed at that window position
    (taps that land on zero padding are dropped).
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2:
        raise ValueError(f"kernel must be a single-channel (kH, kW) array, got shape {k.shape}.")
    in_h, in_w = to_pair(tuple(input_shape), "input_shape", minimum=1)
    sh, sw = to_pair(stride, "stride", minimum=1)
    ph, pw = to_pair(padding, "padding", minimum=0)
    dh, dw = to_pair(dilation, "dilation", minimum=1)
    kh, kw = k.shape
    out_h = conv_output_size(in_h, kh, sh, ph, dh)
    out_w = conv_output_size(in_w, kw, sw, pw, dw)

    C = np.zeros((out_h * out_w, in_h * in_w))
    for oh in range(out_h):
        for ow in range(out_w):
            canvas = np.zeros((in_h + 2 * ph, in_w + 2 * pw))
            canvas[oh * sh : oh * sh + (kh - 1) * dh + 1 : dh, ow * sw : ow * sw + (kw - 1) * dw + 1 : dw] = k
            C[oh * out_w + ow] = canvas[ph : ph + in_h, pw : pw + in_w].ravel()
    return C


def conv_transpose2d_matmul(
    y: ArrayLike,
    kernel: ArrayLike,
    input_shape: tuple[int, int],
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> NDArray[np.float64]:
    """Transposed convolution as ``reshape(C.T @ vec(y), input_shape)`` with ``C = conv_matrix(...)``.

    y: (out_h, out_w), the shape the convolution of an ``input_shape`` image produces; kernel: (kH, kW).
    Returns an array of shape ``input_shape``. Choosing a larger ``input_shape`` that maps to the same
    ``y`` shape is what ``output_padding`` does in :func:`conv_transpose2d`.
    """
    C = conv_matrix(kernel, input_shape, stride, padding, dilation)
    ys = np.asarray(y, dtype=np.float64)
    in_h, in_w = to_pair(tuple(input_shape), "input_shape", minimum=1)
    kh, kw = np.shape(kernel)
    (sh, sw), (ph, pw), (dh, dw) = (
        to_pair(stride, "stride"),
        to_pair(padding, "padding"),
        to_pair(dilation, "dilation"),
    )
    expected = (conv_output_size(in_h, kh, sh, ph, dh), conv_output_size(in_w, kw, sw, pw, dw))
    if ys.shape != expected:
        raise ValueError(
            f"y has shape {ys.shape} but a convolution of a {in_h}x{in_w} input with this kernel, stride, "
            f"padding and dilation gives {expected}; pass y of the conv's output shape."
        )
    return (C.T @ ys.ravel()).reshape(in_h, in_w)
