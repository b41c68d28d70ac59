"""Layer factories: pick a normalisation layer by name so blocks never branch on strings."""

from __future__ import annotations

import math

from torch import nn

from unetkit.options import check_positive_int, look_up_option

__all__ = ["MAX_NORM_GROUPS", "NORM_LAYERS", "check_positive_int", "get_norm_layer"]

#: Names accepted by :func:`get_norm_layer`.
NORM_LAYERS: tuple[str, ...] = ("batch", "instance", "group", "none")

#: Upper bound on the number of groups for ``norm="group"`` (Wu & He 2018 use 32).
MAX_NORM_GROUPS: int = 32


def get_norm_layer(name: str, channels: int) -> nn.Module:
    """Build the normalisation layer called ``name`` for ``channels`` feature maps.

    Args:
        name: one of ``"batch"`` (``BatchNorm2d``), ``"instance"`` (affine ``InstanceNorm2d``),
            ``"group"`` (``GroupNorm`` with ``gcd(32, channels)`` groups, so any width works) or
            ``"none"`` (``nn.Identity``).
        channels: number of feature maps ``C`` of the ``(N, C, H, W)`` input.

    Raises:
        ValueError: unknown ``name`` (the message lists the options) or ``channels < 1``.
    """
    key = look_up_option(name, NORM_LAYERS, name="norm")
    check_positive_int(channels, "channels")
    if key == "batch":
        return nn.BatchNorm2d(channels)
    if key == "instance":
        # affine=True so instance norm has the same learnable scale/shift as the other norms.
        return nn.InstanceNorm2d(channels, affine=True)
    if key == "group":
        return nn.GroupNorm(math.gcd(MAX_NORM_GROUPS, channels), channels)
    return nn.Identity()
