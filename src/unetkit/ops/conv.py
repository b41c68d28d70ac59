"""2-D convolution (cross-correlation, like PyTorch) as a readable NumPy reference.

Written by hand on purpose: the point of ``unetkit.ops`` is to show the lecture arithmetic step by step
(pad, slide a window, multiply and sum); ``torch.nn.functional.conv2d`` is the fast version and is used
in the tests as the oracle.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

from unetkit.ops._utils import IntPair, as_chw, as_weight4d, check_int, restore_rank, to_pair

__all__ = ["conv2d", "conv_output_size", "im2col"]


def conv_output_size(M: int, K: int, S: int = 1, P: int = 0, D: int = 1) -> int:
    """Output length of a convolution along one axis: ``floor((M + 2P - D(K-1) - 1) / S) + 1``.

    M: input size, K: kernel size, S: stride, P: zero padding per side, D: dilation.
    Raises ValueError when the (dilated) kernel does not fit into the padded input.
    """
    M = check_int(M, "input size M", minimum=1)
    K = check_int(K, "kernel size K", minimum=1)
    S = check_int(S, "stride S", minimum=1)
    P = check_int(P, "padding P", minimum=0)
    D = check_int(D, "dilation D", minimum=1)
    out = (M + 2 * P - D * (K - 1) - 1) // S + 1
    if out <= 0:
        effective = D * (K - 1) + 1
        raise ValueError(
            f"conv output size would be {out}: the effective kernel size D*(K-1)+1 = {effective} "
            f"(K={K}, D={D}) is larger than the padded input M+2P = {M + 2 * P} (M={M}, P={P}); "
            "increase padding P or use a smaller kernel K / dilation D."
        )
    return out


def im2col(
    x_padded: NDArray[np.float64],
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> NDArray[np.float64]:
    """Unfold an already padded (C, H, W) array into columns of shape (C*kH*kW, out_h*out_w).

    Row ``(c, i, j)`` holds input pixel ``(c, oh*sH + i*dH, ow*sW + j*dW)`` for every output position
    ``(oh, ow)``, so ``weight.reshape(C_out, -1) @ im2col(...)`` is the convolution.
    """
    C, H, W = x_padded.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    out_h = conv_output_size(H, kh, sh, 0, dh)
    out_w = conv_output_size(W, kw, sw, 0, dw)
    cols = np.empty((C, kh, kw, out_h, out_w), dtype=x_padded.dtype)
    for i in range(kh):
        for j in range(kw):
            # Kernel tap (i, j) sees a strided sub-grid of the input, offset by the dilated tap position.
            rows = slice(i * dh, i * dh + (out_h - 1) * sh + 1, sh)
            columns = slice(j * dw, j * dw + (out_w - 1) * sw + 1, sw)
            cols[:, i, j] = x_padded[:, rows, columns]
    return cols.reshape(C * kh * kw, out_h * out_w)


def _bias_vector(bias: ArrayLike | None, c_out: int) -> NDArray[np.float64]:
    """Return the bias as a (C_out,) float64 vector (None -> zeros, scalar -> repeated)."""
    if bias is None:
        return np.zeros(c_out)
    if isinstance(bias, numbers.Real):
        return np.full(c_out, float(bias))
    vec = np.asarray(bias, dtype=np.float64)
    if vec.ndim == 0:
        return np.full(c_out, float(vec))
    if vec.shape != (c_out,):
        raise ValueError(
            f"bias must be a scalar or have shape ({c_out},) (one per output channel), got {vec.shape}."
        )
    return vec


def conv2d(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> NDArray[np.float64]:
    """Cross-correlate ``x`` with ``weight`` like ``torch.nn.functional.conv2d`` (zero padding).

    x: (C_in, H, W), or (H, W) for a single plane. weight: (C_out, C_in/groups, kH, kW), or (kH, kW)
    for a single-channel kernel. bias: None, a scalar or (C_out,). Returns (C_out, out_h, out_w) in
    float64, or (out_h, out_w) when ``x`` was given as (H, W) (then C_out must be 1).
    """
    xs, x_was_2d = as_chw(x)
    w = as_weight4d(weight, "(C_out, C_in/groups, kH, kW)")
    sh, sw = to_pair(stride, "stride", minimum=1)
    ph, pw = to_pair(padding, "padding", minimum=0)
    dh, dw = to_pair(dilation, "dilation", minimum=1)
    groups = check_int(groups, "groups", minimum=1)
    c_in, H, W = xs.shape
    c_out, c_in_per_group, kh, kw = w.shape
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"groups={groups} must divide both input channels ({c_in}) and output channels ({c_out})."
        )
    if c_in_per_group != c_in // groups:
        raise ValueError(
            f"weight has {c_in_per_group} input channels per group but x has {c_in} channels / "
            f"groups={groups} = {c_in // groups}; weight must be (C_out, C_in/groups, kH, kW)."
        )
    if x_was_2d and c_out != 1:
        raise ValueError(
            f"x was given as (H, W) but weight has {c_out} output channels; pass x as (1, H, W) instead."
        )
    out_h = conv_output_size(H, kh, sh, ph, dh)
    out_w = conv_output_size(W, kw, sw, pw, dw)

    x_padded = np.pad(xs, ((0, 0), (ph, ph), (pw, pw)))
    in_per_group, out_per_group = c_in // groups, c_out // groups
    out = np.empty((c_out, out_h * out_w))
    for g in range(groups):
        # Each group is an independent convolution over its own slice of input and output channels.
        cols = im2col(x_padded[g * in_per_group : (g + 1) * in_per_group], (kh, kw), (sh, sw), (dh, dw))
        w_g = w[g * out_per_group : (g + 1) * out_per_group].reshape(out_per_group, -1)
        out[g * out_per_group : (g + 1) * out_per_group] = w_g @ cols
    out += _bias_vector(bias, c_out)[:, np.newaxis]
    return restore_rank(out.reshape(c_out, out_h, out_w), x_was_2d)
