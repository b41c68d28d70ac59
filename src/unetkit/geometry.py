"""Torch-free size arithmetic: the unpadded (2015) U-Net's valid input/output sizes and an int check.

Plain Python so that the onnxruntime inference path (:mod:`unetkit.inference.base`) can tile for
``unet_original`` without importing torch; :mod:`unetkit.models.unet_original` re-exports the public
functions, so this is the one implementation of the paper's size rules.
"""

from __future__ import annotations

import bisect

from unetkit.options import check_positive_int

# Each DoubleConv of two valid 3x3 convolutions shrinks H and W by 4.
DOUBLE_CONV_LOSS = 4


def simulate_output_size(input_size: int, depth: int) -> int | None:
    """Output side for ``input_size``, or ``None`` if some map would be empty or pooled with a remainder."""
    size = input_size
    for _ in range(depth):
        size -= DOUBLE_CONV_LOSS
        # The 2x2 pooling must see an even size so the decoder's crop stays centred.
        if size < 2 or size % 2:
            return None
        size //= 2
    size -= DOUBLE_CONV_LOSS
    for _ in range(depth):
        if size < 1:
            return None
        size = 2 * size - DOUBLE_CONV_LOSS
    return size if size >= 1 else None


def smallest_valid_input(depth: int) -> int:
    """Smallest input side the unpadded U-Net with ``depth`` poolings accepts (188 for depth 4)."""
    # Valid sizes are 2**depth * (b + 4) - 4 for bottom sizes b; the first b that survives the decoder wins.
    bottom = 1
    while simulate_output_size(2**depth * (bottom + 4) - 4, depth) is None:
        bottom += 1
    return 2**depth * (bottom + 4) - 4


def unet_original_valid_input_sizes(min_size: int, max_size: int, depth: int = 4) -> list[int]:
    """All input sizes in ``[min_size, max_size]`` the unpadded U-Net of ``depth`` poolings accepts.

    For ``depth=4`` these are 188, 204, ..., 572, ... (``16 k - 4``, ``k >= 12``).
    """
    check_positive_int(depth, "depth")
    if max_size < min_size:
        raise ValueError(f"max_size ({max_size}) must be >= min_size ({min_size}).")
    step = 2**depth
    start = smallest_valid_input(depth)
    if min_size > start:
        start += -(-(min_size - start) // step) * step
    return list(range(start, max_size + 1, step))


def nearest_valid_sizes(input_size: int, depth: int) -> list[int]:
    """The valid input sides just below and at/above ``input_size`` (one side when none is below)."""
    step = 2**depth
    candidates = unet_original_valid_input_sizes(
        1, max(input_size, smallest_valid_input(depth)) + step, depth
    )
    position = bisect.bisect_left(candidates, input_size)
    return candidates[max(0, position - 1) : position + 1]


def unet_original_output_size(input_size: int, depth: int = 4) -> int:
    """Spatial output size of the unpadded U-Net for a square side ``input_size`` (572 -> 388 for depth 4).

    Raises:
        ValueError: ``input_size`` is not valid; the message names the nearest valid sizes.
    """
    check_positive_int(input_size, "input_size")
    check_positive_int(depth, "depth")
    output = simulate_output_size(input_size, depth)
    if output is None:
        nearest = " or ".join(str(s) for s in nearest_valid_sizes(input_size, depth))
        raise ValueError(
            f"Input size {input_size} is not valid for the unpadded U-Net (depth {depth}): every map must be "
            f"non-empty and even before each 2x2 pooling. Nearest valid sizes: {nearest}."
        )
    return output


def unet_original_input_size_for_output(output_size: int, depth: int = 4) -> int:
    """Smallest valid input size whose output size is ``>= output_size``."""
    check_positive_int(output_size, "output_size")
    check_positive_int(depth, "depth")
    size = smallest_valid_input(depth)
    # The output grows by exactly 2**depth per valid input step, so the step count is computed, not searched.
    shortfall = output_size - unet_original_output_size(size, depth)
    if shortfall > 0:
        size += -(-shortfall // 2**depth) * 2**depth
    return size


def unet_original_border(depth: int = 4) -> int:
    """Context pixels lost per side by the unpadded U-Net; the same for every valid size (92 for depth 4)."""
    check_positive_int(depth, "depth")
    smallest = smallest_valid_input(depth)
    return (smallest - unet_original_output_size(smallest, depth)) // 2
