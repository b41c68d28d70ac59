"""Torch-free size arithmetic: what input sizes a network accepts and what output size it returns.

:class:`ModelGeometry` is the one statement of a network's size rules (size divisor, the border lost by a
valid-convolution net, its valid-size rule, a fixed input size). Every model states it through
:meth:`unetkit.models.SegmentationModel.geometry`; it is written into ``config.json`` on save and export and
read back by :func:`geometry_from_config`, so the predictor (any backend), the exporter and training's
padding all follow the same rule. Plain Python so that the onnxruntime inference path tiles without torch.

The unpadded (2015) U-Net's size arithmetic lives here too; :mod:`unetkit.models.unet_original` re-exports
the public functions, so this is the one implementation of the paper's size rules.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from unetkit.options import check_positive_int

if TYPE_CHECKING:
    from unetkit.model_files.model_config import ModelConfig

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


# ------------------------------------------------------------------------------------------- model geometry


@dataclass(frozen=True)
class ModelGeometry:
    """The input sizes a network accepts and the output size it returns, per spatial side.

    Attributes:
        size_divisor: input sides must be multiples of it (1 = any size; padded nets that pad internally
            state 1). For an unpadded net it is the pooling period ``2 ** depth``.
        border: context pixels lost per side by a valid-convolution net (output = input - 2 * border);
            0 for padded nets.
        fixed_input_size: (H, W) of a net that accepts that one size only (``fcn_reshape``), else None.
        unpadded_depth: the valid-size rule of the 2015 U-Net with this many poolings (a side is valid when
            every map stays non-empty and even before each pooling); None: every multiple of
            ``size_divisor`` is valid.
        min_side: smallest input side the net runs on (SegNet's poolings need ``2 ** stages`` pixels).
        pad_multiple: a net that pads its own input up to a multiple of this (the padded U-Net: ``2 **
            depth``; an FCN: its encoder's coarsest stride) states it; 1 for a net that does not pad. An
            exported graph always pads by reflection, which needs ``pad < side``, so every backend gives
            the net sides of at least this (:attr:`min_pass_side`).

    Example:
        >>> g = unet_original_geometry(4)
        >>> (g.border, g.is_valid_side(572), g.output_side(572), g.input_side(388))
        (92, True, 388, 572)
    """

    size_divisor: int = 1
    border: int = 0
    fixed_input_size: tuple[int, int] | None = None
    unpadded_depth: int | None = None
    min_side: int = 1
    pad_multiple: int = 1

    def __post_init__(self) -> None:
        check_positive_int(self.size_divisor, "size_divisor")
        check_positive_int(self.min_side, "min_side")
        check_positive_int(self.pad_multiple, "pad_multiple")
        if isinstance(self.border, bool) or not isinstance(self.border, int) or self.border < 0:
            raise ValueError(f"border must be an int >= 0, got {self.border!r}.")
        if self.fixed_input_size is not None:
            h, w = self.fixed_input_size
            object.__setattr__(
                self,
                "fixed_input_size",
                (check_positive_int(h, "fixed_input_size[0]"), check_positive_int(w, "fixed_input_size[1]")),
            )
        if self.unpadded_depth is not None:
            depth = check_positive_int(self.unpadded_depth, "unpadded_depth")
            implied = (2**depth, unet_original_border(depth))
            if (self.size_divisor, self.border) != implied:
                raise ValueError(
                    f"unpadded_depth={depth} implies (size_divisor, border)={implied}, "
                    f"got ({self.size_divisor}, {self.border})."
                )

    @property
    def grid(self) -> int:
        """Tile origins must be multiples of this (the pooling period of an unpadded net, else 1)."""
        return self.size_divisor if self.border > 0 else 1

    @property
    def min_pass_side(self) -> int:
        """Smallest input side of a forward pass the prediction pipeline gives this net, for every backend.

        Eager PyTorch pads a side too small to reflect by replicating, but an exported graph (ONNX,
        OpenVINO, TorchScript) always reflects, and reflect padding needs ``pad < side``. A smaller image is
        mirror-padded up to this side before the net and the output cropped back, so the net never pads by
        more than it can reflect and every backend gets the same input.
        """
        return max(self.min_side, self.pad_multiple)

    def is_valid_side(self, side: int) -> bool:
        """Whether an input side of ``side`` pixels runs through the net (the H and W rules are the same)."""
        if side < self.min_side:
            return False
        if self.unpadded_depth is not None:
            return simulate_output_size(side, self.unpadded_depth) is not None
        return side % self.size_divisor == 0 and side > 2 * self.border

    def is_valid_size(self, height: int, width: int) -> bool:
        """Whether an (H, W) input is accepted (a fixed-size net accepts only its own size)."""
        if self.fixed_input_size is not None:
            return (height, width) == self.fixed_input_size
        return self.is_valid_side(height) and self.is_valid_side(width)

    def output_side(self, side: int) -> int:
        """Output side for a valid input side; ValueError naming the nearest valid sides (or the minimum)
        otherwise."""
        if side < self.min_side:
            raise ValueError(
                f"input side {side} is smaller than the minimum {self.min_side} px this network accepts; "
                f"pad or resize the image to at least {self.min_side} x {self.min_side}."
            )
        if not self.is_valid_side(side):
            nearest = " or ".join(str(s) for s in self.nearest_valid_sides(side))
            raise ValueError(
                f"input side {side} is not valid for this network; nearest valid sides: {nearest}."
            )
        return side - 2 * self.border

    def check_input_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` naming the size got and what the network accepts, unless (H, W) is valid:
        the one check a model's ``forward`` makes before torch fails with a less telling error."""
        if self.fixed_input_size is not None:
            if (height, width) != self.fixed_input_size:
                raise ValueError(
                    f"input size {(height, width)} differs from the one size {self.fixed_input_size} this "
                    "network accepts; resize the images."
                )
            return
        for side in (height, width):
            self.output_side(side)

    def input_side(self, output_side: int) -> int:
        """Smallest valid input side whose output has at least ``output_side`` pixels (>= 1 pixel)."""
        n = max(1, int(output_side))
        if self.unpadded_depth is not None:
            side = unet_original_input_size_for_output(n, self.unpadded_depth)
        else:
            side = math.ceil((n + 2 * self.border) / self.size_divisor) * self.size_divisor
        while not self.is_valid_side(side):  # below min_side: the next valid side above it
            side += self.size_divisor
        return side

    def valid_sides(self, max_size: int, min_size: int = 1) -> list[int]:
        """Every valid input side in ``[min_size, max_size]``."""
        if self.fixed_input_size is not None:
            return sorted({s for s in self.fixed_input_size if min_size <= s <= max_size})
        if self.unpadded_depth is not None:
            return unet_original_valid_input_sizes(max(1, min_size), max_size, self.unpadded_depth)
        return [s for s in range(max(1, min_size), max_size + 1) if self.is_valid_side(s)]

    def nearest_valid_sides(self, side: int) -> list[int]:
        """The valid sides just below and at/above ``side`` (one when none is below)."""
        if self.unpadded_depth is not None:
            return nearest_valid_sizes(side, self.unpadded_depth)
        below = (side // self.size_divisor) * self.size_divisor
        above = self.input_side(side - 2 * self.border)
        return [s for s in sorted({below, above}) if self.is_valid_side(s)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the ``geometry`` entry of ``config.json``)."""
        return {
            "size_divisor": self.size_divisor,
            "border": self.border,
            "fixed_input_size": list(self.fixed_input_size) if self.fixed_input_size else None,
            "unpadded_depth": self.unpadded_depth,
            "min_side": self.min_side,
            "pad_multiple": self.pad_multiple,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "geometry") -> ModelGeometry:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a newer unetkit wrote the file)."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: geometry must be a mapping, got {type(data).__name__}.")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(
                f"{source}: unknown geometry keys {unknown}; upgrade unetkit to read this model."
            )
        fixed = data.get("fixed_input_size")
        depth = data.get("unpadded_depth")
        return cls(
            size_divisor=int(data.get("size_divisor", 1)),
            border=int(data.get("border", 0)),
            fixed_input_size=(int(fixed[0]), int(fixed[1])) if fixed else None,
            unpadded_depth=int(depth) if depth is not None else None,
            min_side=int(data.get("min_side", 1)),
            pad_multiple=int(data.get("pad_multiple", 1)),
        )


def unet_original_geometry(depth: int = 4) -> ModelGeometry:
    """Geometry of the unpadded 2015 U-Net with ``depth`` poolings."""
    check_positive_int(depth, "depth")
    return ModelGeometry(size_divisor=2**depth, border=unet_original_border(depth), unpadded_depth=depth)


def geometry_from_config(config: ModelConfig) -> ModelGeometry:
    """The geometry a saved model stated (``config.geometry``, written on save and export).

    ``config.json`` files written before the geometry was stored fall back to what the architecture
    implies: ``unet_original`` from its ``depth`` (default 4, the constructor's), a ``model_kwargs``
    ``input_size`` as a fixed size, and otherwise padding to ``2 ** depth`` (default 5): padding to a
    multiple of a larger power of two than needed is harmless for a padded net. A stated geometry written
    before ``pad_multiple`` was stored gets that same ``2 ** depth`` as its pad multiple
    (:func:`legacy_pad_multiple`).
    """
    stated = getattr(config, "geometry", None)
    kwargs = config.model_kwargs
    if stated is not None:
        geometry = ModelGeometry.from_dict(stated, source=f"{config.architecture} config.json geometry")
        # Only a padded net pads itself; fixed-size and unpadded nets keep their own rules.
        padded = geometry.size_divisor == 1 and geometry.border == 0 and geometry.fixed_input_size is None
        if padded and isinstance(stated, dict) and "pad_multiple" not in stated:
            return dataclasses.replace(geometry, pad_multiple=legacy_pad_multiple(kwargs))
        return geometry
    if config.architecture.lower() == "unet_original":
        return unet_original_geometry(int(kwargs.get("depth", 4)))
    fixed = kwargs.get("input_size")
    if fixed is not None:
        pair = (int(fixed), int(fixed)) if isinstance(fixed, int) else (int(fixed[0]), int(fixed[1]))
        return ModelGeometry(fixed_input_size=pair)
    return ModelGeometry(size_divisor=legacy_pad_multiple(kwargs))


# Depth assumed for an old config that names none: the rule such files were always read with.
LEGACY_PAD_DEPTH = 5


def legacy_pad_multiple(model_kwargs: dict[str, Any]) -> int:
    """``2 ** depth`` of a saved model whose ``config.json`` predates the stated pad multiple (``depth`` from
    its ``model_kwargs``, :data:`LEGACY_PAD_DEPTH` when it names none or no integer): what such files were
    read with before, a multiple that is harmless to pad to for a padded net."""
    try:
        return int(2 ** int(model_kwargs.get("depth", LEGACY_PAD_DEPTH)))
    except (TypeError, ValueError):
        return int(2**LEGACY_PAD_DEPTH)
