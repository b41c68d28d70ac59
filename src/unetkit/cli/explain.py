"""``unetkit explain TOPIC``: print the lecture's worked examples step by step.

Topics: conv, conv_transpose, conv_matrix, maxpool_unpool, upsample, avgpool, cross_entropy (the
lecture's example arrays, from :mod:`unetkit.ops.lecture_examples`; ``--example`` picks another example of
conv, conv_transpose and maxpool_unpool) and ``model NAME`` (a registered architecture's per-level shapes,
crops and parameter count, read with forward hooks from the real model; ``--in-channels``/``--classes`` set
its channels, and NAME may be a trained run folder instead, whose model/config.json is shown). The text is
built by the pure function :func:`explain_text` from the NumPy reference ops in :mod:`unetkit.ops` (so the
printed results are the ones the library computes); :func:`run` only prints it.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from unetkit.ops import (
    avg_pool2d,
    bed_of_nails_unpool,
    conv2d,
    conv_matrix,
    conv_output_size,
    conv_transpose2d,
    conv_transpose_output_size,
    cross_entropy_steps,
    max_pool2d,
    max_unpool2d,
    upsample_bicubic,
    upsample_bilinear,
    upsample_nearest,
)
from unetkit.ops import lecture_examples as ex
from unetkit.ops._utils import IntPair, to_pair
from unetkit.options import check_int, look_up_option

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TOPICS = (
    "conv",
    "conv_matrix",
    "conv_transpose",
    "maxpool_unpool",
    "upsample",
    "avgpool",
    "cross_entropy",
    "model",
)
# The lecture examples each topic can show (--example); the first is the default.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "conv": ("lecture", "multichannel", "5x5"),
    "conv_transpose": ("lecture", "bias", "two_channel"),
    "maxpool_unpool": ("lecture", "6x6"),
}
# Topics that take --stride/--padding, with the lecture's defaults (stride, padding).
_GEOMETRY_DEFAULTS: dict[str, tuple[int, int]] = {
    "conv": (2, 1),
    "conv_transpose": (1, 0),
    "conv_matrix": (1, 0),
}
# Examples whose lecture settings differ from their topic's default (stride, padding).
_EXAMPLE_GEOMETRY: dict[tuple[str, str], tuple[int, int]] = {
    ("conv", "multichannel"): (1, 1),
    ("conv", "5x5"): (1, 0),
    ("conv_transpose", "two_channel"): (2, 0),
}
# The input size `explain model` uses when --size is not given: the paper's 572 -> 388 tile.
DEFAULT_MODEL_SIZE = 572


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


def _window_lines(title: str, window: ArrayLike, kernel: ArrayLike) -> tuple[list[str], float, str]:
    """The window and window * kernel blocks, the products' sum and the sum written out term by term."""
    products = np.asarray(window) * np.asarray(kernel)
    terms = " + ".join(_fmt_number(p) for p in products.ravel()).replace("+ -", "- ")
    lines = [_block(f"  {title}", window), _block(f"  {title} * kernel", products)]
    return lines, float(products.sum()), terms


def _explain_conv(
    stride: tuple[int, int],
    padding: tuple[int, int],
    x: ArrayLike = ex.CONV_INPUT,
    k: ArrayLike = ex.CONV_KERNEL,
    bias: int = ex.CONV_BIAS,
) -> str:
    x, k = np.asarray(x), np.asarray(k)
    (sh, sw), (ph, pw) = stride, padding
    kh, kw = k.shape
    out = conv2d(x, k, bias=bias, stride=stride, padding=padding)
    padded = np.pad(x, ((ph, ph), (pw, pw)))
    lines = [
        f"Convolution (cross-correlation, as in PyTorch): stride {stride}, padding {padding}, bias {bias}",
        _block("Input", x),
        _block("Kernel", k),
        _block("Zero-padded input", padded),
        f"Output size per axis: floor((M + 2P - (K-1) - 1) / S) + 1 = "
        f"{conv_output_size(x.shape[0], kh, sh, ph)} x {conv_output_size(x.shape[1], kw, sw, pw)}",
    ]
    for oh in range(out.shape[0]):
        for ow in range(out.shape[1]):
            r, c = oh * sh, ow * sw
            window_lines, total, terms = _window_lines("window", padded[r : r + kh, c : c + kw], k)
            lines += [
                "",
                f"Output ({oh}, {ow}): window at padded rows {r}-{r + kh - 1}, columns {c}-{c + kw - 1}",
                *window_lines,
                f"  sum = {terms} = {_fmt_number(total)}; + bias {bias} = {_fmt_number(out[oh, ow])}",
            ]
    lines += ["", _block("Result", out)]
    return "\n".join(lines)


def _explain_conv_multichannel(stride: tuple[int, int], padding: tuple[int, int]) -> str:
    x, kernels, bias = ex.MULTICHANNEL_INPUT, ex.MULTICHANNEL_KERNELS, ex.MULTICHANNEL_BIAS
    (sh, sw), (ph, pw) = stride, padding
    channels, kh, kw = kernels.shape
    # One output channel whose kernel has one 3x3 slice per input channel: weight (1, C, kH, kW).
    out = conv2d(x, kernels[np.newaxis], bias=bias, stride=stride, padding=padding)[0]
    padded = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    lines = [
        f"Multichannel convolution: {channels} input channels, one output channel, stride {stride}, "
        f"padding {padding}, bias {bias}. The kernel has one {kh}x{kw} slice per input channel; each "
        "slice is applied to its own channel and the channel sums are added (plus the bias once).",
    ]
    for channel in range(channels):
        lines += [
            _block(f"Input channel {channel}", x[channel]),
            _block(f"Kernel slice {channel}", kernels[channel]),
        ]
    for oh in range(out.shape[0]):
        for ow in range(out.shape[1]):
            r, c = oh * sh, ow * sw
            lines += [
                "",
                f"Output ({oh}, {ow}): window at padded rows {r}-{r + kh - 1}, columns {c}-{c + kw - 1}",
            ]
            sums = []
            for channel in range(channels):
                window = padded[channel, r : r + kh, c : c + kw]
                window_lines, total, terms = _window_lines(
                    f"channel {channel} window", window, kernels[channel]
                )
                sums.append(total)
                lines += [*window_lines, f"  channel {channel} sum = {terms} = {_fmt_number(total)}"]
            written = " + ".join(_fmt_number(v) for v in sums).replace("+ -", "- ")
            lines += [f"  output = {written} + bias {bias} = {_fmt_number(out[oh, ow])}"]
    lines += ["", _block("Result", out)]
    return "\n".join(lines)


def _explain_conv_transpose(
    stride: tuple[int, int],
    padding: tuple[int, int],
    x: ArrayLike = ex.CONV_TRANSPOSE_INPUT,
    k: ArrayLike = ex.CONV_TRANSPOSE_KERNEL,
    bias: int | None = None,
) -> str:
    """Scatter-and-add walkthrough; ``x`` (h, w) with a (kH, kW) kernel, or (C, h, w) with (C, 1, kH, kW)
    kernels (every input channel scatters its own kernel into the one output channel)."""
    xs, ks = np.asarray(x), np.asarray(k)
    multichannel = xs.ndim == 3
    planes = xs if multichannel else xs[np.newaxis]
    kernels = ks[:, 0] if multichannel else ks[np.newaxis]
    (sh, sw), (ph, pw) = stride, padding
    kh, kw = kernels.shape[-2:]
    out = conv_transpose2d(xs, ks, bias=bias, stride=stride, padding=padding)  # validates the geometry first
    if multichannel:
        out = out[0]
    h, w = planes.shape[-2:]
    full = np.zeros(((h - 1) * sh + kh, (w - 1) * sw + kw))
    title = f"Transposed convolution (scatter and add): stride {stride}, padding {padding}"
    lines = [title if bias is None else f"{title}, bias {bias}"]
    if multichannel:
        for channel in range(planes.shape[0]):
            lines += [
                _block(f"Input channel {channel}", planes[channel]),
                _block(f"Kernel {channel}", kernels[channel]),
            ]
    else:
        lines += [_block("Input", xs), _block("Kernel", ks)]
    lines += [
        f"Each input value times the kernel is added into the output at (stride * position); "
        f"uncropped output {full.shape[0]}x{full.shape[1]} = ((M-1)S + K per axis)."
    ]
    if multichannel:
        lines += ["Every input channel scatters its own kernel into the same output: the channels add up."]
    step = 0
    for channel in range(planes.shape[0]):
        for i in range(h):
            for j in range(w):
                step += 1
                r, c = i * sh, j * sw
                value, kernel = planes[channel, i, j], kernels[channel]
                full[r : r + kh, c : c + kw] += value * kernel
                where = f"({channel}, {i}, {j})" if multichannel else f"({i}, {j})"
                lines += [
                    "",
                    f"Step {step}: input {where} = {value} -> {value} * kernel added at "
                    f"rows {r}-{r + kh - 1}, columns {c}-{c + kw - 1}",
                    _block("  contribution", value * kernel),
                    _block("  running sum", full),
                ]
    out_h = conv_transpose_output_size(h, kh, sh, ph)
    out_w = conv_transpose_output_size(w, kw, sw, pw)
    lines += [
        "",
        f"Crop padding ({ph} rows, {pw} columns) from every side: "
        f"output size (M-1)S - 2P + K = {out_h}x{out_w}",
    ]
    if bias is not None:
        cropped = full[ph : full.shape[0] - ph, pw : full.shape[1] - pw]
        lines += [_block("Cropped sum", cropped), f"Add the bias {bias} to every output pixel."]
    lines += [_block("Result", out)]
    return "\n".join(lines)


def _explain_conv_matrix(stride: tuple[int, int], padding: tuple[int, int]) -> str:
    C = conv_matrix(ex.MATRIX_KERNEL, ex.MATRIX_INPUT_SHAPE, stride, padding)
    h, w = ex.MATRIX_INPUT_SHAPE
    # Applied to an example: the conv lecture's 4x4 input, then C^T back onto the output.
    x = np.asarray(ex.CONV_INPUT)
    out_h = conv_output_size(h, ex.MATRIX_KERNEL.shape[0], stride[0], padding[0])
    out_w = conv_output_size(w, ex.MATRIX_KERNEL.shape[1], stride[1], padding[1])
    y = (C @ x.ravel()).reshape(out_h, out_w)
    back = (C.T @ y.ravel()).reshape(h, w)
    # A transposed conv of y gives (M-1)S - 2P + K per axis; C^T gives x's size, which can be larger by up to
    # S - 1 when the convolution's floor dropped a remainder: PyTorch's output_padding adds those rows.
    kh, kw = ex.MATRIX_KERNEL.shape
    plain = (
        conv_transpose_output_size(out_h, kh, stride[0], padding[0]),
        conv_transpose_output_size(out_w, kw, stride[1], padding[1]),
    )
    extra = (h - plain[0], w - plain[1])
    if extra == (0, 0):
        same_as = (
            f"(the same as the transposed convolution of y with stride {stride}, padding {padding}, which "
            f"gives {h}x{w}"
        )
    else:
        pair = extra[0] if extra[0] == extra[1] else extra
        same_as = (
            f"(the same as the transposed convolution of y with stride {stride}, padding {padding} and "
            f"output_padding={pair}: without output_padding it gives (M-1)S - 2P + K = "
            f"{plain[0]}x{plain[1]}, and output_padding adds the {extra[0]} row(s) and {extra[1]} "
            f"column(s) at the bottom and right that C^T has, to give {h}x{w}"
        )
    return "\n".join(
        [
            f"Convolution as a matrix: {h}x{w} input, stride {stride}, padding {padding}",
            _block("Kernel", ex.MATRIX_KERNEL),
            f"vec(y) = C @ vec(x): each row of C is the kernel placed at one window position and flattened "
            f"row-major to length {h * w}.",
            _block("C", C),
            "The transposed convolution is vec(x') = C^T @ vec(y): each input value of y spreads the kernel "
            "back over the window it came from.",
            _block("C^T", C.T),
            "",
            "Applied to an example x (the conv lecture's 4x4 input):",
            _block("x", x),
            _block("vec(x) (row-major)", x.ravel()),
            _block("C @ vec(x)", C @ x.ravel()),
            _block("y = C @ vec(x), reshaped", y),
            f"(the same as conv2d(x, kernel, stride={stride}, padding={padding}))",
            _block("C^T @ vec(y)", C.T @ y.ravel()),
            _block("x' = C^T @ vec(y), reshaped", back),
            f"{same_as}; x' has x's shape but not its values: C^T is not the inverse of C)",
        ]
    )


def _explain_maxpool_unpool(example: str = "lecture") -> str:
    x = np.asarray(ex.UNPOOL_INPUT if example == "lecture" else ex.POOL_INPUT)
    values, indices = max_pool2d(x, 2, 2)
    W = x.shape[1]
    lines = ["Max pooling 2x2, stride 2, remembering where each max came from", _block("Input", x)]
    for oh in range(values.shape[0]):
        for ow in range(values.shape[1]):
            window = x[2 * oh : 2 * oh + 2, 2 * ow : 2 * ow + 2]
            index = int(indices[oh, ow])
            ties = int((window == window.max()).sum())
            tie = (
                f" (a tie: {ties} maxima; the first in row-major order wins, PyTorch's rule on the CPU)"
                if ties > 1
                else ""
            )
            lines += [
                f"Window ({oh}, {ow}) {window.tolist()}: max {_fmt_number(values[oh, ow])} at input "
                f"({index // W}, {index % W}) -> flat index {index // W}*{W} + {index % W} = {index}{tie}"
            ]
    # The lecture unpools SMALL with the 4x4 example's indices; the 6x6 one puts its own maxima back.
    to_unpool = np.asarray(ex.SMALL) if example == "lecture" else values
    unpooled = max_unpool2d(to_unpool, indices, x.shape)
    lines += [
        _block("Pooled values", values),
        _block("Indices (flat h*W + w)", indices),
        "",
        "Max-unpooling puts each value back at its remembered position, zeros elsewhere:",
        _block("Values to unpool", to_unpool),
        _block("Max-unpooled", unpooled),
        "",
        "Bed of nails (no indices) always uses the top-left corner of each 2x2 block:",
        _block("Bed of nails", bed_of_nails_unpool(to_unpool, 2)),
    ]
    return "\n".join(lines)


def _explain_avgpool() -> str:
    x = np.asarray(ex.POOL_INPUT)
    (kh, kw), s = ex.AVG_POOL_KERNEL, ex.AVG_POOL_STRIDE
    out = avg_pool2d(x, (kh, kw), s)
    lines = [
        f"Average pooling: kernel {kh}x{kw} (rows x columns), stride {s}, no padding",
        _block("Input", x),
        f"Output size per axis: floor((M - K) / S) + 1 = {conv_output_size(x.shape[0], kh, s)} x "
        f"{conv_output_size(x.shape[1], kw, s)}; every window holds {kh}*{kw} = {kh * kw} pixels, so each "
        f"output is a sum divided by {kh * kw}.",
    ]
    sums = np.zeros(out.shape, dtype=np.int64)
    for oh in range(out.shape[0]):
        for ow in range(out.shape[1]):
            r, c = oh * s, ow * s
            window = x[r : r + kh, c : c + kw]
            sums[oh, ow] = int(window.sum())
            terms = " + ".join(str(int(v)) for v in window.ravel())
            lines += [
                "",
                f"Output ({oh}, {ow}): rows {r}-{r + kh - 1}, columns {c}-{c + kw - 1}",
                _block("  window", window),
                f"  sum = {terms} = {sums[oh, ow]}; / {kh * kw} = {sums[oh, ow]}/{kh * kw} = "
                f"{_fmt_number(out[oh, ow])}",
            ]
    lines += [
        "",
        _block(f"Window sums (the result is these / {kh * kw})", sums),
        _block("Result", out),
    ]
    return "\n".join(lines)


def _explain_upsample() -> str:
    small = np.asarray(ex.SMALL)
    # The 1-D bicubic weights: upsampling the identity along rows gives the (4, 2) interpolation matrix.
    cubic_weights = upsample_bicubic(np.eye(small.shape[0]), (2, 1))
    bicubic = upsample_bicubic(small, 2)
    return "\n".join(
        [
            "Upsampling x2",
            _block("Input", small),
            "",
            "Nearest neighbour: output pixel o copies input floor(o / 2).",
            _block("Nearest", upsample_nearest(small, 2)),
            "",
            "Bilinear (align_corners=False): output pixel o samples input coordinate (o + 0.5) / 2 - 0.5 "
            "(-0.25, 0.25, 0.75, 1.25; clamped to the border) and mixes the two neighbours linearly.",
            _block("Bilinear", upsample_bilinear(small, 2)),
            "",
            "Bilinear (align_corners=True): the corner pixels map onto each other, "
            "coordinate o * (2-1)/(4-1).",
            _block("Bilinear, align_corners", upsample_bilinear(small, 2, align_corners=True)),
            "",
            "Bicubic (align_corners=False, Keys kernel a = -0.75 as in PyTorch): the same coordinates "
            "(-0.25, 0.25, 0.75, 1.25), but each output mixes 4 neighbours per axis (border pixels repeated) "
            "with cubic weights, some of them negative. Row o of A holds the weights output o gives to the "
            "inputs; the result is A @ input @ A^T.",
            _block("A (1-D bicubic weights)", cubic_weights),
            _block("Bicubic", bicubic),
            f"Bicubic overshoots: {_fmt_number(bicubic.min())} < {_fmt_number(small.min())} at the top-left "
            f"corner and {_fmt_number(bicubic.max())} > {_fmt_number(small.max())} at the bottom-right "
            "(the negative weights extrapolate); nearest and bilinear stay within the input's range.",
        ]
    )


def _explain_cross_entropy() -> str:
    logits, labels = np.asarray(ex.CROSS_ENTROPY_LOGITS), np.asarray(ex.CROSS_ENTROPY_LABELS)
    num_classes = logits.shape[0]
    steps = cross_entropy_steps(logits, labels)
    lines = [
        f"Per-pixel cross-entropy: {num_classes} classes over a {labels.shape[0]}x{labels.shape[1]} image; "
        "label 255 (ignore_index) marks an unlabelled pixel.",
        _block("Labels", labels),
    ]
    for k in range(num_classes):
        lines.append(_block(f"Logits of class {k}", logits[k]))
    lines += ["", "1. One-hot targets: y_k = 1 where the label is k (all zeros at an ignored pixel)."]
    for k in range(num_classes):
        lines.append(_block(f"One-hot class {k}", steps.one_hot[k]))
    lines += ["", "2. Softmax over the classes at every pixel: p_k = exp(z_k) / sum_j exp(z_j)."]
    for k in range(num_classes):
        lines.append(_block(f"Probability of class {k}", steps.probs[k]))
    lines += [
        "",
        "3. Per pixel: loss = -sum_k y_k log p_k = -log p(true class), log being the natural logarithm ln.",
    ]
    valid_losses = []
    for r in range(labels.shape[0]):
        for c in range(labels.shape[1]):
            label = int(labels[r, c])
            z = ", ".join(_fmt_number(v) for v in logits[:, r, c])
            if not steps.valid[r, c]:
                lines.append(f"  pixel ({r}, {c}): label {label} = ignore_index -> left out")
                continue
            valid_losses.append(steps.pixel_loss[r, c])
            lines.append(
                f"  pixel ({r}, {c}): label {label}, logits ({z}) -> p_{label} = "
                f"{_fmt_number(steps.true_prob[r, c])}, -log p = {_fmt_number(steps.pixel_loss[r, c])}"
            )
    count = int(steps.valid.sum())
    written = " + ".join(_fmt_number(v) for v in valid_losses)
    lines += [
        "",
        f"4. Mean over the {count} labelled pixels (the ignored pixel counts in neither sum nor divisor):",
        f"  ({written}) / {count} = {_fmt_number(steps.loss)}",
        f"Loss: {steps.loss:.6f} (= torch.nn.functional.cross_entropy(logits, labels, ignore_index=255) = "
        f'unetkit.losses.create_loss("ce", num_classes={num_classes}))',
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class StageShape:
    """One stage of a model's forward pass, as its forward hook saw it.

    ``name`` is the module's dotted name (``"downs.0"``), ``kind`` its class (``"Up"`` for a U-Net decoder
    step without a skip: nothing is concatenated), ``shape`` its output without the batch axis (the first
    tensor of a tuple output). ``skip`` / ``upsampled`` are set for a stage that takes an earlier stage's
    map: ``link`` says how (``"concat"``: the U-Net's crop and concat, ``skip`` the map before the crop and
    ``upsampled`` the map it is cropped to; ``"add"``: an FCN fusion, ``skip`` the encoder map scored by a
    1x1 conv and ``upsampled`` the x2-upsampled scores it is added to; ``"indices"``: SegNet's unpooling,
    ``skip`` the pooling indices and ``upsampled`` the unpooled map), ``source`` names the stage whose output
    it takes. ``lecture`` is the stage in the lectures' terms ("pool + 2x conv 3x3", "conv4 + pool4"), or
    "" where there is none.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    skip: tuple[int, ...] | None = None
    upsampled: tuple[int, ...] | None = None
    link: str = ""
    source: str | None = None
    lecture: str = ""


@dataclass(frozen=True)
class ModelSummary:
    """What `unetkit explain model` reports, measured on the real model (see :func:`model_summary`)."""

    name: str
    size: int
    in_channels: int
    num_classes: int
    stages: tuple[StageShape, ...]
    output_shape: tuple[int, ...]
    parameters: int
    geometry: Any  # unetkit.geometry.ModelGeometry (imported lazily: explain stays importable without torch)
    depth: int | None
    receptive_field: int | None
    # The input's width where it differs from ``size`` (its height); None: a square input.
    width: int | None = None
    # The config.json a saved model was read from (None: a registry name), its other keywords, and why the
    # input has its size where --size did not say it ("the training crop").
    source: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    size_note: str = ""
    # Every keyword the model was built with, its defaults included (``norm``, ``upsample``, ...), in the
    # constructor's order; the deprecated name it was asked for (``pixel_cnn``), if any; and the model
    # class's ``PAPER_NOTE`` (how its count differs from the paper's), "" where it has none.
    keywords: dict[str, Any] = field(default_factory=dict)
    alias: str | None = None
    paper_note: str = ""

    @property
    def input_hw(self) -> tuple[int, int]:
        """The (H, W) input the stages were read on."""
        return self.size, self.size if self.width is None else self.width


def _first_tensor_shape(value: Any) -> tuple[int, ...] | None:
    import torch

    if isinstance(value, torch.Tensor):
        return tuple(value.shape[1:])
    if isinstance(value, tuple) and value and isinstance(value[0], torch.Tensor):
        return tuple(value[0].shape[1:])
    return None


def _size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    """``--size`` as (H, W): one side for a square input, or (H, W)."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        side = check_int(size, "--size", minimum=1)
        return side, side
    pair = tuple(size) if isinstance(size, (tuple, list)) else ()
    if len(pair) != 2:
        raise ValueError(f"--size must be one side S or HxW (e.g. 256 or 192x256), got {size!r}.")
    return check_int(pair[0], "--size height", minimum=1), check_int(pair[1], "--size width", minimum=1)


@dataclass(frozen=True)
class _ModelSpec:
    """What ``explain model`` builds: a registered name with keywords, and where a saved model came from."""

    key: str
    in_channels: int
    num_classes: int
    kwargs: dict[str, Any]
    source: Path | None = None  # a saved model's config.json
    crop: tuple[int, int] | None = None  # its training crop (config.json input_size)
    alias: str | None = None  # the deprecated name it was asked for (pixel_cnn)


def _saved_model_spec(path: Path) -> _ModelSpec:
    """The model a run folder (``RUN/model/config.json``), a model folder, a ``config.json`` or a checkpoint
    describes, found as :func:`~unetkit.model_files.model_io.load_model` finds it."""
    from unetkit.model_files.model_config import CONFIG_NAME
    from unetkit.model_files.model_io import read_model_config
    from unetkit.models import list_models
    from unetkit.models.registry import registered_name

    try:
        config, config_path = read_model_config(path)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no {CONFIG_NAME} found; pass a run folder (RUN/model/{CONFIG_NAME}), a model folder or "
            f"a registered model name ({', '.join(list_models())})."
        ) from None
    key = registered_name(config.architecture)
    if key is None:
        raise ValueError(
            f"{config_path}: architecture {config.architecture!r} is not a model of the registry; explain "
            f"model shows {', '.join(list_models())}."
        )
    kwargs = dict(config.model_kwargs)
    in_channels, num_classes = int(kwargs.pop("in_channels")), int(kwargs.pop("num_classes"))
    crop = (int(config.input_size[0]), int(config.input_size[1])) if config.input_size else None
    return _ModelSpec(key, in_channels, num_classes, kwargs, config_path, crop)


def parse_model_keywords(items: Sequence[str]) -> dict[str, Any]:
    """``["norm=none", "depth=3", "skip=false"]`` -> ``{"norm": "none", "depth": 3, "skip": False}``: each
    value read as a YAML scalar, as fit reads ``model.kwargs.KEY=VALUE`` (that prefix is taken too).

    Raises:
        ValueError: an item without ``=``, an empty key, a dotted key other than ``model.kwargs.KEY``, or a
            keyword given twice.
    """
    from unetkit.training.config import parse_override

    out: dict[str, Any] = {}
    for item in items:
        text = str(item)
        key, sep, _ = text.partition("=")
        key = key.strip()
        if key.startswith("model.kwargs."):
            key = key[len("model.kwargs.") :]
        if not sep or not key or "." in key:
            raise ValueError(
                f"model keyword {text!r} must look like KEY=VALUE with one of the model's keywords as KEY "
                "(e.g. norm=none, depth=3, upsample=transpose4; model.kwargs.KEY=VALUE as in fit is taken "
                "too)."
            )
        if key in out:
            raise ValueError(
                f"model keyword {key!r} is given twice ({key}={out[key]!r} and {text}); give it once."
            )
        out[key] = parse_override(f"{key}={text.partition('=')[2]}")[key]
    return out


def _model_spec(
    name: str,
    in_channels: int | None,
    num_classes: int | None,
    model_kwargs: dict[str, Any] | None = None,
) -> _ModelSpec:
    """A registered name (with ``in_channels``/``num_classes``, default 1 and 2, and ``model_kwargs``),
    else an existing run or model folder (whose config.json holds them: giving them too is refused)."""
    import warnings

    from unetkit.models import resolve_model_name
    from unetkit.models.registry import check_model_kwargs, registered_name

    kwargs = dict(model_kwargs or {})
    path = Path(str(name))
    if registered_name(str(name)) is None and path.exists():
        spec = _saved_model_spec(path)
        if kwargs:
            typed = " ".join(f"{k}={_fmt_keyword(v)}" for k, v in kwargs.items())
            raise ValueError(
                f"{typed}: model keywords build a registered model; {name} is a saved model, whose keywords "
                f"are its {spec.source}'s. Drop them to show it, or name its architecture to build another "
                f"(e.g. `unetkit explain model {spec.key} {typed}`)."
            )
        for given, option, key, saved in (
            (in_channels, "--in-channels", "in_channels", spec.in_channels),
            (num_classes, "--classes", "num_classes", spec.num_classes),
        ):
            if given is not None and given != saved:
                raise ValueError(
                    f"{option} {given}: {spec.source} says {key}={saved}; drop {option} to show that model, "
                    f"or name an architecture (e.g. {spec.key}) to build another."
                )
        return spec
    try:
        with (
            warnings.catch_warnings()
        ):  # a deprecated name is said in the output instead (ModelSummary.alias)
            warnings.simplefilter("ignore", DeprecationWarning)
            key = resolve_model_name(name)
    except ValueError as exc:
        raise ValueError(f"{exc} Or pass a run folder (RUN/model/config.json) to show its model.") from None
    for keyword, option in (("in_channels", "--in-channels"), ("num_classes", "--classes")):
        if keyword in kwargs:
            raise ValueError(f"{keyword}={kwargs[keyword]}: give it as {option} {kwargs[keyword]}.")
    check_model_kwargs(key, kwargs)  # TypeError naming the keyword, a did-you-mean and the model's keywords
    known = _keyword_defaults(key)
    if known is not None:  # a builder behind **kwargs (encoder_decoder): checked against what it passes on
        for keyword in kwargs:
            if keyword not in known:
                try:
                    look_up_option(keyword, sorted(known), name=f"keyword of model {key!r}")
                except ValueError as exc:
                    raise TypeError(f"unexpected keyword argument {keyword!r}: {exc}") from None
    channels = 1 if in_channels is None else check_int(in_channels, "--in-channels", minimum=1)
    classes = 2 if num_classes is None else check_int(num_classes, "--classes", minimum=1)
    alias = str(name).lower() if str(name).lower() != key else None
    return _ModelSpec(key, channels, classes, kwargs, alias=alias)


def _keyword_defaults(key: str) -> dict[str, Any] | None:
    """The keywords registered model ``key`` takes besides ``in_channels``/``num_classes``, with their
    defaults (``inspect.Parameter.empty`` where there is none), in the constructor's order; None where they
    cannot be read. A builder behind ``**kwargs`` that passes them on to a parent class (``encoder_decoder``
    -> ``UNet``) gets the parent's, less the one it fixes (``skip``)."""
    import inspect

    from unetkit.models import EncoderDecoder
    from unetkit.models.registry import model_builder

    builder = model_builder(key)
    try:
        params = dict(inspect.signature(builder).parameters)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        if not (isinstance(builder, type) and issubclass(builder, EncoderDecoder)):
            return None
        # EncoderDecoder(in_channels, num_classes, *args, **kwargs): UNet's keywords, skip fixed to False
        # (its own upsample default is read from the built model: _keywords_in_force).
        params = dict(inspect.signature(builder.__mro__[1]).parameters)
        params.pop("skip", None)
    skipped = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {
        k: p.default
        for k, p in params.items()
        if k not in ("in_channels", "num_classes") and p.kind not in skipped
    }


def _keywords_in_force(key: str, given: dict[str, Any], model: Any) -> dict[str, Any]:
    """Every keyword of model ``key`` as built: ``given`` over the constructor's defaults, a ``None``
    default replaced by what it resolved to where the built model says it (the U-Net's ``base_channels`` and
    ``conv_bias``, the FCN's encoder widths); an alternative left at None (``channels``, ``encoder``) is left
    out."""
    import inspect

    from unetkit.layers import resolve_conv_bias

    defaults = _keyword_defaults(key)
    if defaults is None:
        return dict(given)
    out: dict[str, Any] = {}
    for k, default in defaults.items():
        value = given.get(k, None if default is inspect.Parameter.empty else default)
        if value is None and k not in given:
            channels = getattr(model, "channels", None)
            encoder = getattr(model, "encoder", None)
            if k == "base_channels" and given.get("channels") is None and channels:
                value = int(channels[0])
            elif k == "conv_bias" and "norm" in defaults:
                value = resolve_conv_bias(str(given.get("norm", defaults["norm"])), None)
            elif k == "encoder_channels" and given.get("encoder") is None and encoder is not None:
                value = tuple(getattr(encoder, "out_channels", ())) or None
            elif k == "convs_per_stage" and given.get("encoder") is None and encoder is not None:
                stages = getattr(encoder, "stages", None)
                if stages is not None:
                    value = tuple(sum(1 for _ in stage[0].children()) for stage in stages) or None
            if value is None:
                continue  # an alternative not used (channels with base_channels, a custom encoder)
        out[k] = value
    # What the U-Net family really built: encoder_decoder's default upsampling is not in a signature.
    ups = getattr(model, "ups", None)
    if "upsample" in out and ups is not None and len(ups):
        out["upsample"] = _upsample_mode(ups[0].up, str(out["upsample"]))
    return out


def _upsample_mode(layer: Any, fallback: str) -> str:
    """The ``upsample`` name of a U-Net decoder's upsampling layer (``get_upsample_layer``)."""
    from torch import nn

    if isinstance(layer, nn.ConvTranspose2d):
        return {2: "transpose", 4: "transpose4"}.get(int(layer.kernel_size[0]), fallback)
    for module in layer.modules():
        if isinstance(module, nn.Upsample):
            return str(module.mode)
    return fallback


_UPSAMPLE_TERMS = {
    "transpose": "up-conv 2x2",
    "transpose4": "up-conv 4x4",
    "bilinear": "bilinear x2 + conv 1x1",
    "nearest": "nearest x2 + conv 1x1",
}


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _pool_name(source: str | None) -> str:
    """``encoder.stages.3`` (FCN) or ``encoder.3`` (SegNet) -> ``pool4``, the papers' name of that stage's
    pooled map; ``encoder`` for anything else."""
    import re

    found = re.fullmatch(r"encoder(?:\.stages)?\.(\d+)", source or "")
    return f"pool{int(found[1]) + 1}" if found else "encoder"


def _lecture_label(
    model: Any, st: StageShape, stages: Sequence[StageShape], input_hw: tuple[int, int]
) -> str:
    """Stage ``st`` of ``model`` in the lectures' terms (the U-Net paper's legend, the FCN paper's pool3 /
    pool4, SegNet's pooling indices); "" where there is no such name."""
    import re

    from unetkit.models import FCN, FCNReshape, PixelClassifier, SegNet, UNet, WideCNN

    name = st.name
    pool = _pool_name
    if name == "head" and type(getattr(model, "head", None)).__name__ == "SegmentationHead":
        return "conv 1x1 (class scores)"
    if isinstance(model, UNet):
        if name == "stem":
            return "2x conv 3x3"
        if re.fullmatch(r"downs\.\d+", name):
            return "max pool 2x2 + 2x conv 3x3"
        found = re.fullmatch(r"ups\.(\d+)", name)
        if found:
            mode = _upsample_mode(model.ups[int(found[1])].up, "")
            up = _UPSAMPLE_TERMS.get(mode, "upsample x2")
            if st.link == "concat" and st.skip is not None and st.upsampled is not None:
                copy = "copy and crop" if st.skip[-2:] != st.upsampled[-2:] else "copy"
                return f"{up} + {copy} + 2x conv 3x3"
            return f"{up} + 2x conv 3x3 (no skip)"
        return ""
    if isinstance(model, (FCN, FCNReshape)):
        found = re.fullmatch(r"encoder\.stages\.(\d+)", name)
        if found:
            i = int(found[1]) + 1
            return f"conv{i} + pool{i}"
        if isinstance(model, FCN):
            if name == "head":
                return "fc6 + fc7 (as convs)"
            if name == "score":
                return "score (conv 1x1)"
            if st.link == "add":
                return f"x2 up + {pool(st.source)} score"
            if name == "final_up":
                index = next(i for i, other in enumerate(stages) if other.name == name)
                before = stages[index - 1].shape[-1] if index else 0
                return (
                    f"x{st.shape[-1] // before} up" if before and st.shape[-1] % before == 0 else "upsample"
                )
        return ""
    if isinstance(model, SegNet):
        found = re.fullmatch(r"encoder\.(\d+)", name)
        if found:
            return f"conv + pool{int(found[1]) + 1}, indices kept"
        if st.link == "indices":
            return f"{pool(st.source)} indices: unpool + conv"
        return ""
    if isinstance(model, PixelClassifier) and name == "features":
        return "1x1 convs (no context)"
    if isinstance(model, WideCNN) and name == "features":
        return "wide convs, full resolution"
    return ""


def _unpadded_size_error(side: int, geometry: Any) -> str:
    """Why ``side`` is not a valid input side of the unpadded U-Net (``geometry.unpadded_depth``): the size
    chain up to where it breaks, the nearest valid sides, and what fit and predict do with such an image."""
    depth = int(geometry.unpadded_depth)
    size, chain, where = side, [str(side)], ""
    for level in range(depth):
        size -= 4
        chain.append(f"{size} (2 convs)")
        if size < 2:
            where = f"too small for the {_ordinal(level + 1)} 2x2 pooling (level {level})"
            break
        if size % 2:
            where = (
                f"{size} is odd before the {_ordinal(level + 1)} 2x2 pooling (level {level}), which cannot "
                "halve it"
            )
            break
        size //= 2
        chain.append(f"{size} (pool)")
    else:
        size -= 4
        chain.append(f"{size} (2 convs, bottom)")
        if size < 1:
            where = "the bottom map is empty"
        for level in reversed(range(depth)):
            if where:
                break
            size = 2 * size
            chain.append(f"{size} (up-conv)")
            size -= 4
            chain.append(f"{size} (2 convs)")
            if size < 1:
                where = f"the decoder's map at level {level} is empty"
    nearest = " or ".join(str(s) for s in geometry.nearest_valid_sides(side))
    padded = geometry.input_side(side)
    return (
        f"Input size {side} is not valid for the unpadded U-Net (depth {depth}): every map must be non-empty "
        f"and even before each 2x2 pooling; {' -> '.join(chain)}: {where}. Nearest valid sizes: {nearest}. "
        f"(`unetkit fit` and `predict` do not refuse a {side} px image: they mirror-pad it to {padded}, the "
        f"paper's overlap-tile with {geometry.border} px or more of mirrored context per side, and crop the "
        f"{geometry.output_side(padded)} px output back to {side}.)"
    )


def _textbook_receptive_field(depth: int) -> int:
    """The padded U-Net's receptive field by the usual jump recurrence ``r += (k - 1) * jump`` (two 3x3 convs
    per level, 2x2 stride-2 pooling, the 2x2 stride-2 up-convs adding nothing): 200 px at depth 4."""
    r, jump = 1, 1
    for _ in range(depth):
        r += 2 * 2 * jump + (2 - 1) * jump
        jump *= 2
    r += 2 * 2 * jump
    for _ in range(depth):
        jump //= 2
        r += 2 * 2 * jump
    return r


def model_summary(
    name: str,
    size: int | Sequence[int] | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> ModelSummary:
    """Run model ``name`` on a ``size`` input (one side, or (H, W)) and record each stage.

    ``name`` is a registered model (built with ``model_kwargs``, e.g. ``{"norm": "none"}``, else its
    defaults; ``in_channels``/``num_classes`` default 1 and 2; a fixed-size ``fcn_reshape`` at its default
    ``input_size``) or an existing run folder, model folder or ``config.json`` (the saved architecture and
    keywords; ``size`` defaults to its training crop).

    The stages are the model's top-level blocks (lists of blocks, and blocks returning a list of maps such
    as an encoder, are opened one level), read with forward hooks during one forward pass. The model lives
    on PyTorch's meta device: shapes without arithmetic, so even the 31M-parameter U-Net at 572 takes no
    time. ``size`` defaults to a fixed-size model's own size, else 572.

    Raises:
        ValueError: unknown model name (with the registered names), a size the model does not accept (for
            the unpadded U-Net: where the size chain breaks), model keywords for a saved model, or a keyword
            value the model refuses.
        TypeError: a keyword the model does not take (with its keywords).
        FileNotFoundError: a folder without config.json.
    """
    import torch
    from torch import nn

    from unetkit.layers import UpCat
    from unetkit.models import create_model
    from unetkit.models.base import model_geometry
    from unetkit.models.unet import UNet
    from unetkit.planning.plan import receptive_field

    spec = _model_spec(name, in_channels, num_classes, model_kwargs)
    key, in_channels, num_classes = spec.key, spec.in_channels, spec.num_classes
    hw = None if size is None else _size_pair(size)
    with torch.device("meta"):
        model = create_model(key, in_channels=in_channels, num_classes=num_classes, **spec.kwargs).eval()
    geometry = model_geometry(model)
    size_note = ""
    if hw is None:
        if geometry.fixed_input_size is not None:
            hw = geometry.fixed_input_size
        elif spec.crop is not None and geometry.is_valid_size(*spec.crop):
            hw, size_note = spec.crop, "the training crop"
        else:
            hw = (DEFAULT_MODEL_SIZE, DEFAULT_MODEL_SIZE)
    if geometry.fixed_input_size is not None and hw != geometry.fixed_input_size:
        h, w = geometry.fixed_input_size
        raise ValueError(
            f"{name} accepts only {h}x{w} inputs, got --size {_fmt_size(hw)}; use --size {_fmt_size((h, w))} "
            "or drop --size."
        )
    if geometry.unpadded_depth is not None:
        for side in dict.fromkeys(hw):
            if not geometry.is_valid_side(side):
                raise ValueError(_unpadded_size_error(side, geometry))
    height, width = hw

    calls: dict[str, tuple[Any, Any]] = {}  # module name -> (inputs, output) of its (last) call
    order: list[str] = []

    def remember(module_name: str) -> Any:
        def hook(_module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            calls[module_name] = (inputs, output)
            order.append(module_name)

        return hook

    handles = [m.register_forward_hook(remember(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            output = model(torch.zeros(1, in_channels, height, width, device="meta"))
    finally:
        for handle in handles:
            handle.remove()

    modules = dict(model.named_modules())

    def frontier(prefix: str, module: nn.Module) -> list[str]:
        names = []
        for child_name, child in module.named_children():
            full = f"{prefix}{child_name}"
            opened = isinstance(child, nn.ModuleList) or isinstance(calls.get(full, (None, None))[1], list)
            names += frontier(f"{full}.", child) if opened else [full]
        return names

    shown = [n for n in frontier("", model) if n in calls]
    shown.sort(key=order.index)  # no shown module contains another, so finishing order is running order
    # Which stage made a map, by the tensor object itself: a skip, a fusion's encoder map and SegNet's
    # pooling indices are an earlier stage's output (or one item of its tuple output).
    made_by: dict[int, str] = {}
    for n in shown:
        out = calls[n][1]
        for item in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(item, torch.Tensor):
                made_by.setdefault(id(item), n)
    stages = []
    for n in shown:
        inputs, out = calls[n]
        shape = _first_tensor_shape(out)
        if shape is None:
            continue
        module = modules[n]
        kind = type(module).__name__
        skip = upsampled = None
        link = ""
        taken = inputs[1] if len(inputs) > 1 and isinstance(inputs[1], torch.Tensor) else None
        if isinstance(module, UpCat):
            if module.use_skip:
                link, upsampled = "concat", tuple(calls[f"{n}.up"][1].shape[1:])
            else:
                kind = "Up"  # upsample + convs: nothing is concatenated (encoder_decoder, skip=False)
        elif kind == "_SkipFusion" and f"{n}.up" in calls:
            link, upsampled = "add", tuple(calls[f"{n}.up"][1].shape[1:])
        elif kind == "_DecoderStage" and f"{n}.unpool" in calls:
            link, upsampled = "indices", tuple(calls[f"{n}.unpool"][1].shape[1:])
        source = None
        if link and taken is not None:
            skip = tuple(taken.shape[1:])
            source = made_by.get(id(taken))
        elif link:
            link, upsampled = "", None
        stages.append(StageShape(n, kind, shape, skip, upsampled, link, source))
    stages = [
        dataclasses.replace(st, lecture=_lecture_label(model, st, stages, (height, width))) for st in stages
    ]
    depth = model.depth if isinstance(model, UNet) else None
    return ModelSummary(
        name=key,
        size=height,
        in_channels=in_channels,
        num_classes=num_classes,
        stages=tuple(stages),
        output_shape=tuple(output.shape[1:]),
        parameters=sum(p.numel() for p in model.parameters()),
        geometry=geometry,
        depth=depth,
        receptive_field=None if depth is None else receptive_field(depth),
        width=None if width == height else width,
        source=None if spec.source is None else str(spec.source),
        kwargs=spec.kwargs,
        size_note=size_note,
        keywords=_keywords_in_force(key, spec.kwargs, model),
        alias=spec.alias,
        paper_note=str(getattr(type(model), "PAPER_NOTE", "") or ""),
    )


def _fmt_shape(shape: Sequence[int]) -> str:
    return "x".join(str(v) for v in shape)


def _fmt_size(hw: tuple[int, int]) -> str:
    """``572`` for a square input, ``192x256`` (H x W) otherwise."""
    return str(hw[0]) if hw[0] == hw[1] else _fmt_shape(hw)


_LINK_COLORS = {"concat": "#c0504d", "add": "#3d8b37", "indices": "#7b4fa6"}


def _wrap_terms(text: str, width: int = 15) -> str:
    """A lecture label over lines of at most ``width`` characters (a longer word keeps its line)."""
    import textwrap

    return textwrap.fill(text, width, break_on_hyphens=False)


def _link_label(st: StageShape) -> str:
    """The words on a link's arc: the U-Net's crop (or copy), an FCN fusion's pool map, SegNet's indices."""
    if st.link == "concat" and st.skip is not None and st.upsampled is not None:
        return f"crop {st.skip[-1]}->{st.upsampled[-1]}" if st.skip[-2:] != st.upsampled[-2:] else "copy"
    if st.link == "add":
        return f"{_pool_name(st.source)} scores, added"
    if st.link == "indices":
        return f"{_pool_name(st.source)} indices"
    return ""


def model_figure(summary: ModelSummary) -> Figure:
    """The stage shapes of :func:`model_summary` as a figure: one box per stage in running order (its code
    name and shape, its lecture term below it), drawn one level lower per halving of the spatial size (a U
    for the U-Nets), and every link to an earlier stage as an arc from that stage: the U-Net's crop and
    concat (labelled with the crop), an FCN's pool3/pool4 fusions (added) and SegNet's pooling indices. A
    net that pads its input (the padded U-Net at a size not a multiple of 16) gets an input box saying the
    reflect-padding and an output box saying the crop back, and its title says both sizes."""
    import math

    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as MplPath

    from unetkit.viz.figures import headless_figure

    stages = summary.stages
    hw = summary.input_hw
    g = summary.geometry
    multiple = max(1, int(getattr(g, "pad_multiple", 1)))
    padded_hw = (-(-hw[0] // multiple) * multiple, -(-hw[1] // multiple) * multiple)
    padded = multiple > 1 and padded_hw != hw
    reference = padded_hw[1] if padded else hw[1]

    def level(shape: tuple[int, ...]) -> float:
        # Depth below the input's resolution: 0 at full size, 1 after one 2x2 pooling, ...
        return -math.log2(reference / shape[-1]) if len(shape) == 3 and shape[-1] > 0 else 0.0

    points = [(float(i), level(st.shape)) for i, st in enumerate(stages)]
    # Arcs above the boxes they join: a wider one higher, so nested arcs do not cross; labelled at the top.
    box_top = 0.22
    arcs = []
    for i, st in enumerate(stages):
        if not st.link or st.source is None:
            continue
        source = next((j for j in range(i) if stages[j].name == st.source), None)
        if source is None:
            continue
        (x0, y0), (x1, y1) = points[source], points[i]
        peak = max(y0, y1) + box_top + 0.3 + 0.1 * abs(x1 - x0)
        arcs.append((x0, y0 + box_top, x1, y1 + box_top, peak, st))
    top = max([0.0 + box_top + 0.2, *(a[4] + 0.35 for a in arcs)])
    lowest = min((y for _, y in points), default=0.0)
    width = max(6.0, 1.25 * (len(stages) + (2 if padded else 0)) + 1.5)
    height = max(4.2, 0.75 * (top - lowest + 1.2) + 1.0)
    fig = headless_figure((width, height))
    ax = fig.add_subplot()

    line_points = list(points)
    if padded:
        line_points = [(-1.0, 0.0), *points, (float(len(stages)), 0.0)]
    ax.plot([x for x, _ in line_points], [y for _, y in line_points], color="0.75", zorder=1)
    box = {"boxstyle": "round", "facecolor": "#dbe9f6", "edgecolor": "#4a7fb5"}
    for (x, y), st in zip(points, stages):
        ax.text(
            x,
            y,
            f"{st.name}\n{_fmt_shape(st.shape)}",
            ha="center",
            va="center",
            fontsize=6.5,
            zorder=3,
            bbox=box,
        )
        if st.lecture:
            ax.text(
                x,
                y - box_top - 0.04,
                _wrap_terms(st.lecture),
                ha="center",
                va="top",
                fontsize=6.5,
                color="#1f3f66",
                fontweight="bold",
                zorder=3,
            )
    if padded:
        io_box = {"boxstyle": "round", "facecolor": "#f3e6cf", "edgecolor": "#b5874a"}
        size, inner = _fmt_shape(hw), _fmt_shape(padded_hw)
        ax.text(
            -1.0,
            0.0,
            f"input\n{summary.in_channels}x{size}",
            ha="center",
            va="center",
            fontsize=6.5,
            zorder=3,
            bbox=io_box,
        )
        ax.text(
            -1.0,
            -box_top - 0.04,
            f"reflect-pad\nto {inner}",
            ha="center",
            va="top",
            fontsize=6.5,
            color="#7a5520",
            fontweight="bold",
            zorder=3,
        )
        n = float(len(stages))
        ax.text(
            n,
            0.0,
            f"output\n{_fmt_shape(summary.output_shape)}",
            ha="center",
            va="center",
            fontsize=6.5,
            zorder=3,
            bbox=io_box,
        )
        ax.text(
            n,
            -box_top - 0.04,
            f"logits cropped\nto {size}",
            ha="center",
            va="top",
            fontsize=6.5,
            color="#7a5520",
            fontweight="bold",
            zorder=3,
        )
    for x0, y0, x1, y1, peak, st in arcs:
        color = _LINK_COLORS.get(st.link, "#c0504d")
        # A quadratic Bezier from (x0, y0) to (x1, y1) whose highest point is ``peak``: its maximum is
        # (y0 y1 - c^2) / (y0 - 2c + y1) for the control height c, so c = peak + sqrt((peak - y0)(peak - y1)),
        # reached at t = (y0 - c) / (y0 - 2c + y1) (x moves linearly in t: the control is halfway across).
        c = peak + math.sqrt((peak - y0) * (peak - y1))
        t = (y0 - c) / (y0 - 2 * c + y1)
        control = (0.5 * (x0 + x1), c)
        path = MplPath([(x0, y0), control, (x1, y1)], [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3])
        ax.add_patch(
            FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=8, color=color, lw=1.0, zorder=2)
        )
        ax.text(
            x0 + t * (x1 - x0),
            peak + 0.04,
            _link_label(st),
            ha="center",
            va="bottom",
            fontsize=7,
            color=color,
            zorder=4,
        )
    ax.set_xlim(-1.8 if padded else -0.8, len(stages) - (-0.8 if padded else 0.2))
    ax.set_ylim(lowest - 1.0, top)
    ax.set_yticks([])
    ax.set_xticks([])
    keywords = ", ".join(f"{k}={_fmt_keyword(v)}" for k, v in summary.kwargs.items())
    title = (
        f"{summary.name}{f' ({keywords})' if keywords else ''}: {_fmt_shape(hw)} -> "
        f"{_fmt_shape(summary.output_shape[-2:])}, {summary.parameters:,} parameters"
    )
    if padded:
        title += (
            f"\ninput reflect-padded {_fmt_shape(hw)} -> {_fmt_shape(padded_hw)} (a multiple of {multiple}), "
            f"logits cropped back to {_fmt_shape(hw)}"
        )
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("spatial level (one step = half the size)", fontsize=8)
    return fig


def _fmt_keyword(value: Any) -> str:
    """A keyword value as it is typed on the command line: ``none``, ``false``, ``0.5``, ``[64, 128]``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_fmt_keyword(v) for v in value) + "]"
    return str(value)


# The connections a model's stages take from earlier ones (StageShape.link), each listed under its header.
_LINK_HEADERS = {
    "concat": "Skip connections (copy, crop to the upsampled map's size, concatenate):",
    "add": "Skip fusions (FCN: an encoder map is scored by a 1x1 conv and ADDED to the x2-upsampled coarser "
    "scores; nothing is concatenated):",
    "indices": "Pooling indices (SegNet: max-unpooling puts each value back where its encoder maximum was, "
    "zeros elsewhere; no learned upsampling, nothing concatenated):",
}


def _link_line(st: StageShape) -> str:
    """One stage's line under its link's header (:data:`_LINK_HEADERS`)."""
    assert st.skip is not None and st.upsampled is not None  # for mypy: the caller keeps only these
    if st.link == "concat":
        sh, sw = st.skip[-2:]
        uh, uw = st.upsampled[-2:]
        crop = f"cropped {sh}x{sw} -> {uh}x{uw}" if (sh, sw) != (uh, uw) else "no crop needed"
        return (
            f"  {st.name}: skip {_fmt_shape(st.skip)} {crop}, + upsampled {_fmt_shape(st.upsampled)} = "
            f"{st.skip[0] + st.upsampled[0]} channels"
        )
    if st.link == "add":
        return (
            f"  {st.name}: {_pool_name(st.source)} {_fmt_shape(st.skip)}"
            f" (from {st.source}) -> scores {_fmt_shape(st.shape)}, + upsampled scores "
            f"{_fmt_shape(st.upsampled)} = {_fmt_shape(st.shape)}"
        )
    return (
        f"  {st.name}: indices {_fmt_shape(st.skip)} of {st.source} -> unpooled "
        f"{_fmt_shape(st.upsampled)}, then convs -> {_fmt_shape(st.shape)}"
    )


def _explain_model(
    name: str | None,
    size: int | Sequence[int] | None,
    in_channels: int | None,
    num_classes: int | None,
    model_kwargs: dict[str, Any] | None = None,
) -> str:
    if name is None:
        from unetkit.models import list_models

        raise ValueError(
            "explain model needs a model name, e.g. `unetkit explain model unet_original`; one of: "
            f"{', '.join(list_models())}."
        )
    summary = model_summary(name, size, in_channels, num_classes, model_kwargs)
    g = summary.geometry
    hw = summary.input_hw
    if summary.source is None and summary.kwargs:
        keywords = ", ".join(f"{k}={_fmt_keyword(v)}" for k, v in summary.kwargs.items())
        built = f"{keywords}, in_channels={summary.in_channels}, num_classes={summary.num_classes}"
    elif summary.source is None:
        built = f"default arguments, in_channels={summary.in_channels}, num_classes={summary.num_classes}"
    else:
        keywords = "".join(f", {k}={v}" for k, v in summary.kwargs.items())
        built = (
            f"from {summary.source}: in_channels={summary.in_channels}, num_classes={summary.num_classes}"
            f"{keywords}"
        )
    why = f" ({summary.size_note})" if summary.size_note else ""
    lines = [
        f"Model {summary.name} ({built}) on a {_fmt_shape(hw)} input{why}: shapes read with forward hooks",
    ]
    if summary.alias:
        lines.append(
            f"({summary.alias} is the deprecated name of {summary.name}: the same model, shown under its "
            f"current name; use {summary.name})"
        )
    if summary.keywords:
        given = set(summary.kwargs)
        lines.append(
            "Keywords in force (defaults included; * = given): "
            + ", ".join(
                f"{k}={_fmt_keyword(v)}{'*' if k in given else ''}" for k, v in summary.keywords.items()
            )
        )
    lines.append(f"Parameters: {summary.parameters:,}")
    if summary.paper_note:
        lines.append(f"Note: {summary.paper_note}")
    padded = tuple(-(-v // g.pad_multiple) * g.pad_multiple for v in hw)
    if g.pad_multiple > 1 and padded != hw:
        lines.append(
            f"The net reflect-pads its input to a multiple of {g.pad_multiple} ({_fmt_size(hw)} -> "
            f"{_fmt_size((padded[0], padded[1]))}) at the bottom and right (mirroring the image; repeating "
            "its edge where the image is too small to mirror) and crops the logits back, so the stages below "
            "see the padded size."
        )
    named = any(stage.lecture for stage in summary.stages)
    shape_width = max(
        len(_fmt_shape(shape))
        for shape in [(summary.in_channels, *hw), summary.output_shape, *(st.shape for st in summary.stages)]
    )
    lines += [
        "",
        "Stage shapes (channels x height x width, batch axis left out)"
        + (", and each stage in the lectures' terms:" if named else ":"),
        f"  {'input':<16} {'':<18} {_fmt_shape((summary.in_channels, *hw))}",
    ]
    for stage in summary.stages:
        line = (
            f"  {stage.name:<16} {stage.kind:<18} {_fmt_shape(stage.shape):<{shape_width}}  {stage.lecture}"
        )
        lines.append(line.rstrip())
    lines.append(f"  {'output':<16} {'':<18} {_fmt_shape(summary.output_shape)}")
    for link, header in _LINK_HEADERS.items():
        linked = [st for st in summary.stages if st.link == link and st.skip is not None and st.upsampled]
        if linked:
            lines += ["", header, *(_link_line(st) for st in linked)]
    lines += ["", "Sizes:"]
    if g.fixed_input_size is not None:
        lines.append(
            f"  accepts only {g.fixed_input_size[0]}x{g.fixed_input_size[1]} inputs "
            "(its layers are sized for it)"
        )
    elif g.border:
        step = g.size_divisor
        out = (hw[0] - 2 * g.border, hw[1] - 2 * g.border)
        lines += [
            f"  border: {g.border} px lost per side "
            f"(output = input - 2 x {g.border}: {_fmt_size(hw)} -> {_fmt_size(out)})",
            f"  valid input sides: {g.input_side(1)} and up in steps of {step} ("
            + "; ".join(
                f"near {s}: {', '.join(str(v) for v in g.valid_sides(s + 3 * step, max(1, s - 3 * step)))}"
                for s in dict.fromkeys(hw)
            )
            + ")",
        ]
    else:
        lowest = f"from {g.min_side} px " if g.min_side > 1 else ""
        lines.append(f"  border 0: any input side {lowest}works, the output has the input's size")
    if summary.receptive_field is not None and summary.depth is not None:
        textbook = _textbook_receptive_field(summary.depth)
        lines.append(
            f"  theoretical receptive field (depth {summary.depth}, unetkit.planning.plan.receptive_field): "
            f"{summary.receptive_field} px, the widest input span of one output pixel over the "
            f"{2**summary.depth} positions it can take on the pooling grid; the textbook recurrence "
            f"r += (k - 1) * jump (2x2 up-convs adding nothing) gives {textbook} px: it does not "
            "follow where a pixel sits on that grid"
        )
        mode = summary.keywords.get("upsample", "transpose")
        if mode != "transpose":
            lines.append(
                f"  (both counted with 2x2 stride-2 up-convs; upsample={mode} reads 2 coarse pixels per "
                "output pixel, which widens the field a little)"
            )
    return "\n".join(lines)


def explain_text(
    topic: str,
    *,
    stride: IntPair | None = None,
    padding: IntPair | None = None,
    example: str | None = None,
    name: str | None = None,
    size: int | Sequence[int] | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> str:
    """Return the step-by-step explanation of ``topic`` (one of :data:`TOPICS`) as text.

    ``stride``/``padding`` (int or (h, w)) apply to conv, conv_transpose and conv_matrix; other topics
    use the fixed lecture settings and reject them. ``example`` picks one of :data:`EXAMPLES` for conv,
    conv_transpose and maxpool_unpool. ``name`` (a registered model, or a run or model folder),
    ``size`` (input side, or (H, W)), ``in_channels``, ``num_classes`` and ``model_kwargs`` (the model's
    keywords, e.g. ``{"norm": "none"}``; :func:`parse_model_keywords` reads them from ``KEY=VALUE`` items) are
    for topic ``model`` (:func:`model_summary`). Raises ValueError for an unknown topic, example or model,
    or an option the topic does not take; TypeError for a keyword the model does not take.
    """
    topic = look_up_option(topic, TOPICS, "explain topic")
    if example is not None:
        if topic not in EXAMPLES:
            raise ValueError(
                f"--example applies only to {', '.join(sorted(EXAMPLES))}; drop it for topic {topic!r}."
            )
        example = look_up_option(example, EXAMPLES[topic], f"{topic} example")
    else:
        example = EXAMPLES[topic][0] if topic in EXAMPLES else None
    if topic != "model" and any(v is not None for v in (name, size, in_channels, num_classes)):
        raise ValueError(
            f"a model name, --size, --in-channels and --classes apply only to topic 'model' (e.g. `unetkit "
            f"explain model unet_original --size 572`); drop them for topic {topic!r}."
        )
    if topic != "model" and model_kwargs:
        given = " ".join(f"{k}={_fmt_keyword(v)}" for k, v in model_kwargs.items())
        raise ValueError(
            f"{given}: KEY=VALUE model keywords apply only to topic 'model' (e.g. `unetkit explain model "
            f"unet norm=none`); drop them for topic {topic!r}."
        )
    if topic in _GEOMETRY_DEFAULTS:
        default_stride, default_padding = _EXAMPLE_GEOMETRY.get(
            (topic, str(example)), _GEOMETRY_DEFAULTS[topic]
        )
        s = to_pair(default_stride if stride is None else stride, "stride", minimum=1)
        p = to_pair(default_padding if padding is None else padding, "padding", minimum=0)
        if topic == "conv":
            if example == "multichannel":
                return _explain_conv_multichannel(s, p)
            if example == "5x5":
                return _explain_conv(s, p, ex.CONV5_INPUT, ex.CONV5_KERNEL, bias=0)
            return _explain_conv(s, p)
        if topic == "conv_transpose":
            if example == "bias":
                return _explain_conv_transpose(s, p, bias=ex.CONV_TRANSPOSE_BIAS)
            if example == "two_channel":
                return _explain_conv_transpose(
                    s, p, ex.CONV_TRANSPOSE_TWO_CHANNEL_INPUT, ex.CONV_TRANSPOSE_TWO_CHANNEL_KERNEL
                )
            return _explain_conv_transpose(s, p)
        return _explain_conv_matrix(s, p)
    if stride is not None or padding is not None:
        raise ValueError(
            f"--stride/--padding apply only to {', '.join(sorted(_GEOMETRY_DEFAULTS))}; "
            f"drop them for topic {topic!r}."
        )
    if topic == "maxpool_unpool":
        return _explain_maxpool_unpool(str(example))
    if topic == "avgpool":
        return _explain_avgpool()
    if topic == "cross_entropy":
        return _explain_cross_entropy()
    if topic == "model":
        return _explain_model(name, size, in_channels, num_classes, model_kwargs)
    return _explain_upsample()


def _pair_option(values: Sequence[int] | int | None, name: str) -> IntPair | None:
    """``--stride 2`` -> 2, ``--stride 2 1`` -> (2, 1); anything longer is an error."""
    if values is None or isinstance(values, int):
        return values
    if len(values) == 1:
        return int(values[0])
    if len(values) == 2:
        return (int(values[0]), int(values[1]))
    raise ValueError(f"--{name} takes one value or two (h w), got {len(values)}: {list(values)}.")


def _size_option(text: str) -> int | tuple[int, int]:
    """``--size 256`` -> 256, ``--size 192x256`` -> (192, 256) (height x width, as the stage shapes)."""
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"takes S or HxW in pixels, e.g. 256 or 192x256; got {text!r}")
    sides = [int(p) for p in parts]
    return sides[0] if len(sides) == 1 else (sides[0], sides[1])


def register(subparsers: Any) -> None:
    """Add the ``explain`` sub-command to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    examples = "; ".join(f"{topic}: {', '.join(names)}" for topic, names in EXAMPLES.items())
    parser = subparsers.add_parser(
        "explain",
        help="print a lecture example step by step (conv, transposed conv, pooling, upsampling, "
        "cross-entropy) or a model's shapes",
        description="Print the lecture's worked examples step by step, computed with unetkit.ops, or "
        "(topic model NAME [KEY=VALUE ...]) a registered model's per-level shapes, crops and parameter "
        "count, built with the model keywords given.",
    )
    parser.add_argument("topic", help=f"one of: {', '.join(TOPICS)}")
    parser.add_argument(
        "name",
        nargs="?",
        default=None,
        help="topic model only: the registered model, e.g. unet_original, or a trained run folder (its "
        "model/config.json: architecture, keywords, channels and classes)",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="topic model only: the model's keywords, read as fit reads model.kwargs.KEY=VALUE, e.g. "
        "`unetkit explain model unet norm=none` (the paper's 31,030,658), upsample=transpose4, depth=3, "
        "base_channels=32, skip=false; a keyword the model does not take is refused with its keywords",
    )
    parser.add_argument(
        "--stride", type=int, nargs="+", metavar="S", default=None, help="stride S or S_H S_W (conv topics)"
    )
    parser.add_argument(
        "--padding", type=int, nargs="+", metavar="P", default=None, help="padding P or P_H P_W (conv topics)"
    )
    parser.add_argument(
        "--example", default=None, metavar="NAME", help=f"another lecture example ({examples})"
    )
    parser.add_argument(
        "--size",
        type=_size_option,
        default=None,
        metavar="S|HxW",
        help=f"topic model only: input side, or height x width (default: a run's training crop, a fixed-size "
        f"model's size, else {DEFAULT_MODEL_SIZE})",
    )
    parser.add_argument(
        "--in-channels",
        type=int,
        default=None,
        metavar="C",
        help="topic model only: image channels of the model built (default 1; 3 for RGB)",
    )
    parser.add_argument(
        "--classes",
        type=int,
        default=None,
        metavar="K",
        help="topic model only: classes (logit channels) of the model built (default 2)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="PNG",
        help="topic model only: also draw the stage shapes and crops into this PNG file",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print :func:`explain_text` for ``args.topic`` (and, with ``--out``, write the model figure); errors
    propagate as ValueError."""
    out = getattr(args, "out", None)
    path = None if out is None else Path(out)
    if path is not None:
        # Checked before anything is printed: a wrong --out is the user's to fix, not half a result.
        if look_up_option(args.topic, TOPICS, "explain topic") != "model":
            raise ValueError(
                f"--out draws a model's figure: it applies only to topic 'model'; drop it for {args.topic!r}."
            )
        if path.suffix.lower() != ".png":
            raise ValueError(f"--out {out} must name a .png file, e.g. --out {path.with_suffix('.png')}.")
    items = list(getattr(args, "overrides", None) or [])
    model_kwargs = parse_model_keywords(items) if items else None
    text = explain_text(
        args.topic,
        stride=_pair_option(getattr(args, "stride", None), "stride"),
        padding=_pair_option(getattr(args, "padding", None), "padding"),
        example=getattr(args, "example", None),
        name=getattr(args, "name", None),
        size=getattr(args, "size", None),
        in_channels=getattr(args, "in_channels", None),
        num_classes=getattr(args, "classes", None),
        model_kwargs=model_kwargs,
    )
    print(text)
    if path is not None:
        from unetkit.viz.figures import save_figure

        summary = model_summary(
            args.name,
            getattr(args, "size", None),
            getattr(args, "in_channels", None),
            getattr(args, "classes", None),
            model_kwargs,
        )
        save_figure(model_figure(summary), path)
        print(f"wrote {path}")
    return 0


__all__ = [
    "EXAMPLES",
    "TOPICS",
    "ModelSummary",
    "StageShape",
    "explain_text",
    "model_figure",
    "model_summary",
    "parse_model_keywords",
    "register",
    "run",
]
