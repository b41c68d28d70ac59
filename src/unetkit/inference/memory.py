"""Whether an image's class probabilities fit in memory, said before its tiles are predicted.

Without test-time augmentation and without probabilities asked for, a mask is made band by band and an image
needs about its own size again (``BasePredictor.predict_mask``). The probabilities of a whole image, which TTA
averages and ``--probs`` writes, are one float32 (K, H, W) array: a 20000 x 20000 orthomosaic of a 12-class
model needs 19 GB for it alone. Linux hands out such an array at once and kills the process only when its
pages are touched, after minutes or hours of tiles and with every later image of the batch unwritten. Here
the array's size is compared with the memory free now, before any tile runs. Torch-free (the ONNX Runtime and
OpenVINO paths use it too).

The tiles are a second such amount: one forward pass over a batch of large tiles holds the network's
activations, 4.9 GB for ``--tile-size 2048`` (4 tiles per pass) with an 8-wide U-Net. Before the tiles run,
:func:`fit_tile_batch` lowers the tiles per pass until a pass fits in the memory free now, and refuses the
image where not even one tile fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unetkit.devices import available_memory

__all__ = [
    "ENGINE_FACTOR",
    "bytes_per_pixel",
    "check_probability_memory",
    "fit_tile_batch",
    "forward_bytes",
    "level_widths",
    "probability_bytes",
]

GIB = 1024**3


def probability_bytes(classes: int, height: int, width: int) -> int:
    """Bytes of a float32 (K, H, W) probability map."""
    return 4 * max(1, classes) * height * width


def check_probability_memory(classes: int, height: int, width: int, views: int, probs_asked: bool) -> None:
    """A one-line ValueError when the (K, H, W) probability map of a ``height x width`` image, with the mask
    made from it, needs more memory than is free now (a lower bound: tiles and output files come on top);
    nothing where it fits or the free memory is unknown.

    ``views``: the TTA views averaged (0 or 1: none); ``probs_asked``: the probabilities were asked for
    (``predict()``, ``--probs``), so the map is needed without TTA too. The message names what to drop.
    """
    free = available_memory()
    if free is None:
        return
    needed = probability_bytes(classes, height, width) + height * width  # + the uint8 mask made from it
    if needed <= free:
        return
    size = f"{width}x{height} px"
    what = f"{max(1, classes)} x {height} x {width} float32"
    small = height * width * 2  # the band-by-band mask and the image's own copy: about this
    if views > 1 and not probs_asked:
        fix = (
            f"predict it without TTA (unetkit predict --tta none; in Python tta=False and predict_mask), "
            f"which makes the mask band by band in about {small / GIB:.1f} GiB more"
        )
        why = f"its {views}-view TTA averages class probabilities"
    else:
        fix = (
            "ask for the mask alone: without --probs, --instances and TTA (unetkit predict --tta none; in "
            f"Python predict_mask with tta=False) it is made band by band in about {small / GIB:.1f} GiB more"
        )
        averaged = f" and averaged over {views} TTA views" if views > 1 else ""
        why = f"its class probabilities are kept (--probs, --instances or predict()){averaged}"
    raise ValueError(
        f"image of {size}: {why}, {what} = {needed / GIB:.1f} GiB with its mask, and {free / GIB:.1f} GiB "
        f"of memory is free; {fix}"
    )


# The peak memory of one forward pass over a batch of tiles: activations, not weights. A U-Net holds its
# encoder maps for the skips and, at its top level, the upsampled map, the concatenation and the convolution
# outputs at once, so the peak grows with tiles x tile area x the widths of its levels, each level at a
# quarter of the area of the one above: W = sum over levels l of max(c_l, 16) / 4**l (oneDNN's blocked
# layouts hold a map of under 16 channels as 16: base 8 took 0.77x what base 16 took, not 0.5x). Measured
# (scratch, Intel Xeon 2 vCPU with AVX-512/AMX, shared with others; torch 2.x CPU fp32, 2 threads, one
# forward per fresh process, its VmHWM minus its VmRSS before the forward):
#
#   model (W)                 tile x tiles    peak MB   rule MB
#   U-Net base 8 (23.5)       512 x 1         122       166
#                             512 x 4         377       461
#                             1024 x 1        360       461
#                             1024 x 4        1123      1644
#                             2048 x 1        1040      1644
#   U-Net base 16 (31)        256 x 1         53        100
#                             512 x 1         196       197
#                             1024 x 1        469       587
#   U-Net base 32 (62)        512 x 1         326       327
#                             1024 x 1        982       1107
#   U-Net base 64 (124)       512 x 1         493       587
#   U-Net base 16 depth 2     512 x 1         183       185
#   encoder_decoder base 16   512 x 1         163       197
#
# The rule, 16 bytes (4 float32 maps) per pixel and unit of W plus 64 MiB, is at or above every one of them
# (by up to 1.6x where tiles are large, 1.9x at 256 px where the 64 MiB dominates). ONNX Runtime and
# OpenVINO fp32 took what torch took for one pass of the base-8 model (1024 x 4 and 2048 x 1: 1125 and
# 1104 MB, torch 1123 and 1040). Other architectures (FCN-8s, SegNet, the wide and 1x1 CNNs took 802-1627
# bytes per pixel at 512 px) are taken as the default 64-wide U-Net (1984), above each of them.
#
# A whole predict run holds more than one pass: ``unetkit predict --tile-size 2048`` on a 4096 x 4096 scene
# (9 tiles: passes of 4, 4 and 1) peaked at 4.87 GB resident with torch, 6.45 GB with ONNX Runtime (its arena
# keeps what passes of other sizes took) and 4.72 GB with OpenVINO here; in the user trial that found it (a
# machine with more cores), 4.8 GB with torch and 7.3 GB with OpenVINO. The rule gives 6.4 GB for a pass of 4
# such tiles: the exported engines take it x ENGINE_FACTOR, to cover 6.45 and 7.3 GB.
ENGINE_FACTOR = 1.25
FORWARD_BYTES_PER_WIDTH = 16
FORWARD_OVERHEAD = 64 * 2**20
# Passes the rule puts at or under this are not checked: a process with less free cannot run a model anyway
# (torch alone holds about 0.5 GB), and fewer of such small tiles per pass would save little.
FORWARD_UNCHECKED = 256 * 2**20
BLOCK_CHANNELS = 16
DEFAULT_DEPTH = 4
DEFAULT_BASE_CHANNELS = 64
# Architectures whose widths are read from model_kwargs (UNet's depth, base_channels, channels).
_UNET_FAMILY = ("unet", "unet_original", "encoder_decoder")


def level_widths(architecture: str, model_kwargs: Mapping[str, Any]) -> tuple[int, ...]:
    """The widths ``(c_0, ..., c_depth)`` of a U-Net's levels from its config (``base * 2**level`` or its
    ``channels``); the default U-Net's (64 .. 1024) for other architectures, whose peak it bounds."""
    default = tuple(DEFAULT_BASE_CHANNELS * 2**level for level in range(DEFAULT_DEPTH + 1))
    if architecture not in _UNET_FAMILY:
        return default
    try:
        channels = model_kwargs.get("channels")
        if channels:
            return tuple(max(1, int(c)) for c in channels)
        depth = int(model_kwargs.get("depth") or DEFAULT_DEPTH)
        base = int(model_kwargs.get("base_channels") or DEFAULT_BASE_CHANNELS)
    except (TypeError, ValueError):  # a config edited by hand: the model's own checks say what is wrong
        return default
    return tuple(max(1, base) * 2**level for level in range(max(0, depth) + 1))


def bytes_per_pixel(widths: Sequence[int]) -> float:
    """Estimated peak bytes of a forward pass per pixel of its tiles: the rule above, without its 64 MiB."""
    return FORWARD_BYTES_PER_WIDTH * sum(max(c, BLOCK_CHANNELS) / 4**level for level, c in enumerate(widths))


def forward_bytes(widths: Sequence[int], tiles: int, height: int, width: int, factor: float = 1.0) -> int:
    """Estimated peak bytes of one forward pass over ``tiles`` tiles of ``height x width`` px: the rule and
    its measurements above, times the engine's ``factor`` (:data:`ENGINE_FACTOR`)."""
    return int(factor * bytes_per_pixel(widths) * tiles * height * width) + FORWARD_OVERHEAD


def fit_tile_batch(
    widths: Sequence[int], tile: tuple[int, int], batch: int, reserved: int = 0, factor: float = 1.0
) -> tuple[int, str]:
    """``(tiles per forward pass, why)``: ``batch`` and '' where a pass over ``batch`` tiles of ``tile``
    (H, W) fits in the memory free now (or that is unknown, or the pass is under :data:`FORWARD_UNCHECKED`),
    else the most tiles that fit and a line with the numbers. ``reserved``: bytes the image's own arrays take
    beside the tiles (its probability map, its mask), not free for them; ``factor``: the engine's
    (:func:`forward_bytes`). Where not even one tile fits: a one-line ValueError naming the tile size, the
    memory needed and free, and a tile size that fits (the fix)."""
    free = available_memory()
    th, tw = tile
    needed = forward_bytes(widths, batch, th, tw, factor)
    left = 0 if free is None else max(0, free - reserved)
    room = max(left, FORWARD_UNCHECKED)
    if free is None or needed <= room:
        return batch, ""
    beside = (
        f" ({left / GIB:.1f} GiB of it beside the image's own {reserved / GIB:.1f} GiB)"
        if reserved >= GIB / 20  # said where it shows
        else ""
    )
    fitting = max((n for n in range(1, batch) if forward_bytes(widths, n, th, tw, factor) <= room), default=0)
    if fitting:
        return fitting, (
            f"tiles of {tw}x{th} px: {fitting} per forward pass instead of {batch}: {batch} would need about "
            f"{needed / GIB:.1f} GiB and {free / GIB:.1f} GiB of memory is free{beside}; {fitting} need "
            f"about {forward_bytes(widths, fitting, th, tw, factor) / GIB:.1f} GiB"
        )
    # The largest square tile, a multiple of 32 px, whose one pass fits.
    side = int((max(0, room - FORWARD_OVERHEAD) / (factor * bytes_per_pixel(widths))) ** 0.5)
    side = min(side, max(th, tw) - 1) // 32 * 32
    if side >= 64:
        fix = (
            f"pass a smaller tile: --tile-size {side} (in Python tile_size={side}) needs about "
            f"{forward_bytes(widths, 1, side, side, factor) / GIB:.1f} GiB"
        )
    else:
        fix = "free memory for it, or pass a smaller --tile-size (in Python tile_size)"
    raise ValueError(
        f"tile of {tw}x{th} px: the model's forward pass over one tile needs about "
        f"{forward_bytes(widths, 1, th, tw, factor) / GIB:.1f} GiB and {free / GIB:.1f} GiB of memory is "
        f"free{beside}; {fix}"
    )
