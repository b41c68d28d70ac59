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
            f"(the same as the transposed convolution of y with stride {stride}, padding {padding}, sized "
            f"back to {h}x{w}; x' has x's shape but not its values: C^T is not the inverse of C)",
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
            lines += [
                f"Window ({oh}, {ow}) {window.tolist()}: max {_fmt_number(values[oh, ow])} at input "
                f"({index // W}, {index % W}) -> flat index {index // W}*{W} + {index % W} = {index}"
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
    lines += ["", "3. Per pixel: loss = -sum_k y_k log p_k = -log p(true class)."]
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

    ``name`` is the module's dotted name (``"downs.0"``), ``kind`` its class, ``shape`` its output without
    the batch axis (the first tensor of a tuple output). ``skip`` / ``upsampled`` are set for a
    crop-and-concat step (the skip map before the crop, the upsampled map it is cropped to).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    skip: tuple[int, ...] | None = None
    upsampled: tuple[int, ...] | None = None


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


def _model_spec(name: str, in_channels: int | None, num_classes: int | None) -> _ModelSpec:
    """A registered name (with ``in_channels``/``num_classes``, default 1 and 2), else an existing run or
    model folder (whose config.json holds them: giving them too is refused)."""
    from unetkit.models import resolve_model_name
    from unetkit.models.registry import registered_name

    path = Path(str(name))
    if registered_name(str(name)) is None and path.exists():
        spec = _saved_model_spec(path)
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
        key = resolve_model_name(name)
    except ValueError as exc:
        raise ValueError(f"{exc} Or pass a run folder (RUN/model/config.json) to show its model.") from None
    channels = 1 if in_channels is None else check_int(in_channels, "--in-channels", minimum=1)
    classes = 2 if num_classes is None else check_int(num_classes, "--classes", minimum=1)
    return _ModelSpec(key, channels, classes, {})


def model_summary(
    name: str,
    size: int | Sequence[int] | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
) -> ModelSummary:
    """Run model ``name`` on a ``size`` input (one side, or (H, W)) and record each stage.

    ``name`` is a registered model (default arguments, ``in_channels``/``num_classes`` default 1 and 2; a
    fixed-size ``fcn_reshape`` at its default ``input_size``) or an existing run
    folder, model folder or ``config.json`` (the saved architecture and keywords; ``size`` defaults to its
    training crop).

    The stages are the model's top-level blocks (lists of blocks, and blocks returning a list of maps such
    as an encoder, are opened one level), read with forward hooks during one forward pass. The model lives
    on PyTorch's meta device: shapes without arithmetic, so even the 31M-parameter U-Net at 572 takes no
    time. ``size`` defaults to a fixed-size model's own size, else 572.

    Raises:
        ValueError: unknown model name (with the registered names) or a size the model does not accept.
        FileNotFoundError: a folder without config.json.
    """
    import torch
    from torch import nn

    from unetkit.layers import UpCat
    from unetkit.models import create_model
    from unetkit.models.base import model_geometry
    from unetkit.models.unet import UNet
    from unetkit.planning.plan import receptive_field

    spec = _model_spec(name, in_channels, num_classes)
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
    stages = []
    for n in shown:
        inputs, out = calls[n]
        shape = _first_tensor_shape(out)
        if shape is None:
            continue
        module = modules[n]
        skip = upsampled = None
        if isinstance(module, UpCat) and module.use_skip:
            skip = tuple(inputs[1].shape[1:])
            upsampled = tuple(calls[f"{n}.up"][1].shape[1:])
        stages.append(StageShape(n, type(module).__name__, shape, skip, upsampled))
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
    )


def _fmt_shape(shape: Sequence[int]) -> str:
    return "x".join(str(v) for v in shape)


def _fmt_size(hw: tuple[int, int]) -> str:
    """``572`` for a square input, ``192x256`` (H x W) otherwise."""
    return str(hw[0]) if hw[0] == hw[1] else _fmt_shape(hw)


def model_figure(summary: ModelSummary) -> Figure:
    """The stage shapes of :func:`model_summary` as a figure: one box per stage in running order, drawn one
    level lower per halving of the spatial size (a U for the U-Nets), and each crop-and-concat skip as a
    line from the encoder stage it copies to the decoder stage that uses it, labelled with the crop."""
    import math

    from unetkit.viz.figures import headless_figure

    stages = summary.stages
    fig = headless_figure((max(6.0, 0.9 * len(stages) + 1.5), 4.2))
    ax = fig.add_subplot()

    def level(shape: tuple[int, ...]) -> float:
        # Depth below the input's resolution: 0 at full size, 1 after one 2x2 pooling, ...
        return -math.log2(summary.input_hw[1] / shape[-1]) if len(shape) == 3 and shape[-1] > 0 else 0.0

    points = [(i, level(st.shape)) for i, st in enumerate(stages)]
    ax.plot([x for x, _ in points], [y for _, y in points], color="0.75", zorder=1)
    for (x, y), st in zip(points, stages):
        label = f"{st.name}\n{_fmt_shape(st.shape)}"
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=7,
            zorder=3,
            bbox={"boxstyle": "round", "facecolor": "#dbe9f6", "edgecolor": "#4a7fb5"},
        )
    for i, st in enumerate(stages):
        if st.skip is None or st.upsampled is None:
            continue
        # The skip is the latest earlier stage with exactly that output shape.
        source = max((j for j in range(i) if stages[j].shape == st.skip), default=None)
        if source is None:
            continue
        (x0, y0), (x1, y1) = points[source], points[i]
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            zorder=2,
            arrowprops={"arrowstyle": "->", "color": "#c0504d", "connectionstyle": "arc3,rad=-0.25"},
        )
        crop = f"crop {st.skip[-1]}->{st.upsampled[-1]}" if st.skip[-2:] != st.upsampled[-2:] else "copy"
        ax.text((x0 + x1) / 2, max(y0, y1) + 0.35, crop, ha="center", fontsize=7, color="#c0504d")
    ax.set_xlim(-0.8, len(stages) - 0.2)
    lowest = min((y for _, y in points), default=0.0)
    ax.set_ylim(lowest - 0.8, 1.2)
    ax.set_yticks([])
    ax.set_xticks([])
    ax.set_title(
        f"{summary.name}: {_fmt_shape(summary.input_hw)} -> {_fmt_shape(summary.output_shape[-2:])}, "
        f"{summary.parameters:,} parameters",
        fontsize=9,
    )
    ax.set_ylabel("spatial level (one step = half the size)", fontsize=8)
    return fig


def _explain_model(
    name: str | None, size: int | Sequence[int] | None, in_channels: int | None, num_classes: int | None
) -> str:
    if name is None:
        from unetkit.models import list_models

        raise ValueError(
            "explain model needs a model name, e.g. `unetkit explain model unet_original`; one of: "
            f"{', '.join(list_models())}."
        )
    summary = model_summary(name, size, in_channels, num_classes)
    g = summary.geometry
    hw = summary.input_hw
    if summary.source is None:
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
        f"Parameters: {summary.parameters:,}",
    ]
    padded = tuple(-(-v // g.pad_multiple) * g.pad_multiple for v in hw)
    if g.pad_multiple > 1 and padded != hw:
        lines.append(
            f"The net pads its input to a multiple of {g.pad_multiple} ({_fmt_size(hw)} -> "
            f"{_fmt_size((padded[0], padded[1]))}) and crops the logits back, so the stages below see the "
            "padded size."
        )
    lines += [
        "",
        "Stage shapes (channels x height x width, batch axis left out):",
        f"  {'input':<16} {'':<18} {_fmt_shape((summary.in_channels, *hw))}",
    ]
    for stage in summary.stages:
        lines.append(f"  {stage.name:<16} {stage.kind:<18} {_fmt_shape(stage.shape)}")
    lines.append(f"  {'output':<16} {'':<18} {_fmt_shape(summary.output_shape)}")
    crops = [st for st in summary.stages if st.skip is not None and st.upsampled is not None]
    if crops:
        lines += ["", "Skip connections (copy, crop to the upsampled map's size, concatenate):"]
        for st in crops:
            assert st.skip is not None and st.upsampled is not None  # for mypy: filtered above
            sh, sw = st.skip[-2:]
            uh, uw = st.upsampled[-2:]
            crop = f"cropped {sh}x{sw} -> {uh}x{uw}" if (sh, sw) != (uh, uw) else "no crop needed"
            lines.append(
                f"  {st.name}: skip {_fmt_shape(st.skip)} {crop}, + upsampled {_fmt_shape(st.upsampled)} = "
                f"{st.skip[0] + st.upsampled[0]} channels"
            )
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
    if summary.receptive_field is not None:
        lines.append(
            f"  theoretical receptive field (depth {summary.depth}, unetkit.planning.plan.receptive_field): "
            f"{summary.receptive_field} px"
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
) -> str:
    """Return the step-by-step explanation of ``topic`` (one of :data:`TOPICS`) as text.

    ``stride``/``padding`` (int or (h, w)) apply to conv, conv_transpose and conv_matrix; other topics
    use the fixed lecture settings and reject them. ``example`` picks one of :data:`EXAMPLES` for conv,
    conv_transpose and maxpool_unpool. ``name`` (a registered model, or a run or model folder),
    ``size`` (input side, or (H, W)), ``in_channels`` and ``num_classes`` are for topic ``model``
    (:func:`model_summary`). Raises ValueError for an unknown topic, example or model, or an option the
    topic does not take.
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
        return _explain_model(name, size, in_channels, num_classes)
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
        "(topic model NAME) a registered model's per-level shapes, crops and parameter count.",
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
    text = explain_text(
        args.topic,
        stride=_pair_option(getattr(args, "stride", None), "stride"),
        padding=_pair_option(getattr(args, "padding", None), "padding"),
        example=getattr(args, "example", None),
        name=getattr(args, "name", None),
        size=getattr(args, "size", None),
        in_channels=getattr(args, "in_channels", None),
        num_classes=getattr(args, "classes", None),
    )
    print(text)
    if path is not None:
        from unetkit.viz.figures import save_figure

        summary = model_summary(
            args.name,
            getattr(args, "size", None),
            getattr(args, "in_channels", None),
            getattr(args, "classes", None),
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
    "register",
    "run",
]
