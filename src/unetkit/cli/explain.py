"""``unetkit explain TOPIC``: print the lecture's worked examples step by step.

Topics: conv, conv_transpose, conv_matrix, maxpool_unpool, upsample. The text is built by the pure
function :func:`explain_text` from the NumPy reference ops in :mod:`unetkit.ops` (so the printed results
are the ones the library computes); :func:`run` only prints it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from unetkit.ops import (
    bed_of_nails_unpool,
    conv2d,
    conv_matrix,
    conv_output_size,
    conv_transpose2d,
    conv_transpose_output_size,
    max_pool2d,
    max_unpool2d,
    upsample_bilinear,
    upsample_nearest,
)
from unetkit.ops._utils import IntPair, to_pair
from unetkit.options import look_up_option

TOPICS = ("conv", "conv_matrix", "conv_transpose", "maxpool_unpool", "upsample")
# Topics that take --stride/--padding, with the lecture's defaults (stride, padding).
_GEOMETRY_DEFAULTS: dict[str, tuple[int, int]] = {
    "conv": (2, 1),
    "conv_transpose": (1, 0),
    "conv_matrix": (1, 0),
}

# The lecture's example data.
CONV_INPUT = np.array([[0, 3, 1, 1], [3, 1, 2, 0], [3, 4, 2, 3], [3, 0, 0, 2]])
CONV_KERNEL = np.array([[1, 1, 1], [1, 1, 1], [0, 1, 0]])
CONV_BIAS = 1
CONV_TRANSPOSE_INPUT = np.array([[2, 2], [1, 4]])
CONV_TRANSPOSE_KERNEL = np.ones((2, 2), dtype=np.int64)
MATRIX_KERNEL = np.array([[1, 4, 1], [1, 4, 3], [3, 3, 1]])
MATRIX_INPUT_SHAPE = (4, 4)
POOL_INPUT = np.array([[1, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]])
SMALL = np.array([[1, 2], [3, 4]])


def _fmt_number(value: float) -> str:
    """Integers without a decimal point, other values with up to 4 decimals (trailing zeros dropped)."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _fmt_grid(grid: ArrayLike, indent: str = "  ") -> str:
    """Right-aligned rows of a 2-D array, one line per row."""
    arr = np.atleast_2d(np.asarray(grid, dtype=np.float64))
    cells = [[_fmt_number(v) for v in row] for row in arr]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(indent + " ".join(c.rjust(width) for c in row) for row in cells)


def _block(title: str, grid: ArrayLike) -> str:
    arr = np.atleast_2d(np.asarray(grid))
    return f"{title} ({arr.shape[0]}x{arr.shape[1]}):\n{_fmt_grid(arr)}"


def _explain_conv(stride: tuple[int, int], padding: tuple[int, int]) -> str:
    x, k = CONV_INPUT, CONV_KERNEL
    (sh, sw), (ph, pw) = stride, padding
    kh, kw = k.shape
    out = conv2d(x, k, bias=CONV_BIAS, stride=stride, padding=padding)
    padded = np.pad(x, ((ph, ph), (pw, pw)))
    lines = [
        f"Convolution (cross-correlation, as in PyTorch): stride {stride}, padding {padding}, "
        f"bias {CONV_BIAS}",
        _block("Input", x),
        _block("Kernel", k),
        _block("Zero-padded input", padded),
        f"Output size per axis: floor((M + 2P - (K-1) - 1) / S) + 1 = "
        f"{conv_output_size(x.shape[0], kh, sh, ph)} x {conv_output_size(x.shape[1], kw, sw, pw)}",
    ]
    for oh in range(out.shape[0]):
        for ow in range(out.shape[1]):
            r, c = oh * sh, ow * sw
            window = padded[r : r + kh, c : c + kw]
            products = window * k
            total = int(products.sum())
            terms = " + ".join(_fmt_number(p) for p in products.ravel()).replace("+ -", "- ")
            lines += [
                "",
                f"Output ({oh}, {ow}): window at padded rows {r}-{r + kh - 1}, columns {c}-{c + kw - 1}",
                _block("  window", window),
                _block("  window * kernel", products),
                f"  sum = {terms} = {total}; + bias {CONV_BIAS} = {_fmt_number(out[oh, ow])}",
            ]
    lines += ["", _block("Result", out)]
    return "\n".join(lines)


def _explain_conv_transpose(stride: tuple[int, int], padding: tuple[int, int]) -> str:
    x, k = CONV_TRANSPOSE_INPUT, CONV_TRANSPOSE_KERNEL
    (sh, sw), (ph, pw) = stride, padding
    kh, kw = k.shape
    out = conv_transpose2d(x, k, stride=stride, padding=padding)  # validates the geometry first
    full = np.zeros(((x.shape[0] - 1) * sh + kh, (x.shape[1] - 1) * sw + kw))
    lines = [
        f"Transposed convolution (scatter and add): stride {stride}, padding {padding}",
        _block("Input", x),
        _block("Kernel", k),
        f"Each input value times the kernel is added into the output at (stride * position); "
        f"uncropped output {full.shape[0]}x{full.shape[1]} = ((M-1)S + K per axis).",
    ]
    step = 0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            step += 1
            r, c = i * sh, j * sw
            full[r : r + kh, c : c + kw] += x[i, j] * k
            lines += [
                "",
                f"Step {step}: input ({i}, {j}) = {x[i, j]} -> {x[i, j]} * kernel added at "
                f"rows {r}-{r + kh - 1}, columns {c}-{c + kw - 1}",
                _block("  contribution", x[i, j] * k),
                _block("  running sum", full),
            ]
    out_h = conv_transpose_output_size(x.shape[0], kh, sh, ph)
    out_w = conv_transpose_output_size(x.shape[1], kw, sw, pw)
    lines += [
        "",
        f"Crop padding ({ph} rows, {pw} columns) from every side: "
        f"output size (M-1)S - 2P + K = {out_h}x{out_w}",
        _block("Result", out),
    ]
    return "\n".join(lines)


def _explain_conv_matrix(stride: tuple[int, int], padding: tuple[int, int]) -> str:
    C = conv_matrix(MATRIX_KERNEL, MATRIX_INPUT_SHAPE, stride, padding)
    h, w = MATRIX_INPUT_SHAPE
    return "\n".join(
        [
            f"Convolution as a matrix: {h}x{w} input, stride {stride}, padding {padding}",
            _block("Kernel", MATRIX_KERNEL),
            f"vec(y) = C @ vec(x): each row of C is the kernel placed at one window position and flattened "
            f"row-major to length {h * w}.",
            _block("C", C),
            "The transposed convolution is vec(x') = C^T @ vec(y): each input value of y spreads the kernel "
            "back over the window it came from.",
            _block("C^T", C.T),
        ]
    )


def _explain_maxpool_unpool() -> str:
    values, indices = max_pool2d(POOL_INPUT, 2, 2)
    W = POOL_INPUT.shape[1]
    lines = ["Max pooling 2x2, stride 2, remembering where each max came from", _block("Input", POOL_INPUT)]
    for oh in range(values.shape[0]):
        for ow in range(values.shape[1]):
            window = POOL_INPUT[2 * oh : 2 * oh + 2, 2 * ow : 2 * ow + 2]
            index = int(indices[oh, ow])
            lines += [
                f"Window ({oh}, {ow}) {window.tolist()}: max {_fmt_number(values[oh, ow])} at input "
                f"({index // W}, {index % W}) -> flat index {index // W}*{W} + {index % W} = {index}"
            ]
    unpooled = max_unpool2d(SMALL, indices, POOL_INPUT.shape)
    lines += [
        _block("Pooled values", values),
        _block("Indices (flat h*W + w)", indices),
        "",
        "Max-unpooling puts each value back at its remembered position, zeros elsewhere:",
        _block("Values to unpool", SMALL),
        _block("Max-unpooled", unpooled),
        "",
        "Bed of nails (no indices) always uses the top-left corner of each 2x2 block:",
        _block("Bed of nails", bed_of_nails_unpool(SMALL, 2)),
    ]
    return "\n".join(lines)


def _explain_upsample() -> str:
    return "\n".join(
        [
            "Upsampling x2",
            _block("Input", SMALL),
            "",
            "Nearest neighbour: output pixel o copies input floor(o / 2).",
            _block("Nearest", upsample_nearest(SMALL, 2)),
            "",
            "Bilinear (align_corners=False): output pixel o samples input coordinate (o + 0.5) / 2 - 0.5 "
            "(-0.25, 0.25, 0.75, 1.25; clamped to the border) and mixes the two neighbours linearly.",
            _block("Bilinear", upsample_bilinear(SMALL, 2)),
            "",
            "Bilinear (align_corners=True): the corner pixels map onto each other, "
            "coordinate o * (2-1)/(4-1).",
            _block("Bilinear, align_corners", upsample_bilinear(SMALL, 2, align_corners=True)),
        ]
    )


def explain_text(topic: str, *, stride: IntPair | None = None, padding: IntPair | None = None) -> str:
    """Return the step-by-step explanation of ``topic`` (one of :data:`TOPICS`) as text.

    ``stride``/``padding`` (int or (h, w)) apply to conv, conv_transpose and conv_matrix; other topics
    use the fixed lecture settings and reject them. Raises ValueError for an unknown topic.
    """
    topic = look_up_option(topic, TOPICS, "explain topic")
    if topic in _GEOMETRY_DEFAULTS:
        default_stride, default_padding = _GEOMETRY_DEFAULTS[topic]
        s = to_pair(default_stride if stride is None else stride, "stride", minimum=1)
        p = to_pair(default_padding if padding is None else padding, "padding", minimum=0)
        if topic == "conv":
            return _explain_conv(s, p)
        if topic == "conv_transpose":
            return _explain_conv_transpose(s, p)
        return _explain_conv_matrix(s, p)
    if stride is not None or padding is not None:
        raise ValueError(
            f"--stride/--padding apply only to {', '.join(sorted(_GEOMETRY_DEFAULTS))}; "
            f"drop them for topic {topic!r}."
        )
    return _explain_maxpool_unpool() if topic == "maxpool_unpool" else _explain_upsample()


def _pair_option(values: Sequence[int] | int | None, name: str) -> IntPair | None:
    """``--stride 2`` -> 2, ``--stride 2 1`` -> (2, 1); anything longer is an error."""
    if values is None or isinstance(values, int):
        return values
    if len(values) == 1:
        return int(values[0])
    if len(values) == 2:
        return (int(values[0]), int(values[1]))
    raise ValueError(f"--{name} takes one value or two (h w), got {len(values)}: {list(values)}.")


def register(subparsers: Any) -> None:
    """Add the ``explain`` sub-command to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    parser = subparsers.add_parser(
        "explain",
        help="print a lecture example step by step (conv, transposed conv, pooling, upsampling)",
        description="Print the lecture's worked examples step by step, computed with unetkit.ops.",
    )
    parser.add_argument("topic", help=f"one of: {', '.join(TOPICS)}")
    parser.add_argument(
        "--stride", type=int, nargs="+", metavar="S", default=None, help="stride S or S_H S_W (conv topics)"
    )
    parser.add_argument(
        "--padding", type=int, nargs="+", metavar="P", default=None, help="padding P or P_H P_W (conv topics)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print :func:`explain_text` for ``args.topic``; errors propagate as ValueError."""
    text = explain_text(
        args.topic,
        stride=_pair_option(getattr(args, "stride", None), "stride"),
        padding=_pair_option(getattr(args, "padding", None), "padding"),
    )
    print(text)
    return 0


__all__ = ["TOPICS", "explain_text", "register", "run"]
