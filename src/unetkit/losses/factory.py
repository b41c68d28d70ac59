"""Build a loss module from a short spec string or dict."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from torch import nn

from unetkit.constants import IGNORE_INDEX
from unetkit.losses.compound import CombinedLoss
from unetkit.losses.cross_entropy import CrossEntropyLoss
from unetkit.losses.dice import DiceLoss
from unetkit.losses.focal import FocalLoss
from unetkit.options import look_up_option

__all__ = ["LOSS_NAMES", "create_loss", "parse_loss_spec"]

LOSS_NAMES: tuple[str, ...] = ("ce", "dice", "focal", "weighted_ce")


def _build_one(
    name: str, num_classes: int, ignore_index: int, class_weights: Sequence[float] | None
) -> nn.Module:
    if name == "ce":
        return CrossEntropyLoss(class_weights=class_weights, ignore_index=ignore_index)
    if name == "weighted_ce":
        return CrossEntropyLoss(
            class_weights=class_weights, ignore_index=ignore_index, require_weight_map=True
        )
    if name == "focal":
        return FocalLoss(alpha=class_weights, ignore_index=ignore_index)
    return DiceLoss(num_classes=num_classes, ignore_index=ignore_index)


def parse_loss_spec(spec: str | Mapping[str, float]) -> list[tuple[str, float]]:
    """``"ce+dice"`` or ``{"ce": 1.0, "dice": 0.5}`` -> ``[(name, weight), ...]`` with checked names."""
    if isinstance(spec, str):
        terms: list[tuple[str, float]] = [(part.strip(), 1.0) for part in spec.split("+")]
    elif isinstance(spec, Mapping):
        terms = [(str(name), weight) for name, weight in spec.items()]
    else:
        raise TypeError(f"loss spec must be a str like 'ce+dice' or a dict like {{'ce': 1.0}}, got {spec!r}.")
    if not terms:
        raise ValueError(f"loss spec {spec!r} is empty; choose from {', '.join(LOSS_NAMES)}.")
    names = [look_up_option(name, LOSS_NAMES, "loss") for name, _ in terms]
    if len(set(names)) != len(names):
        raise ValueError(f"loss spec {spec!r} repeats a loss; give each name once with its weight.")
    return [(name, weight) for name, (_, weight) in zip(names, terms, strict=True)]


def create_loss(
    spec: str | Mapping[str, float],
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    class_weights: Sequence[float] | None = None,
) -> nn.Module:
    """Create a loss from a name (``"ce"``, ``"dice"``, ``"focal"``, ``"weighted_ce"``), a sum or a dict.

    Dict form: ``{"ce": 1.0, "dice": 0.5}`` (name -> weight).

    A ``"+"``-joined string gives every term weight 1. A single name (or a one-entry dict with weight 1)
    returns the plain module, otherwise a :class:`CombinedLoss`. ``class_weights`` (length ``num_classes``)
    go to the cross-entropy terms as class weights and to focal as ``alpha``; Dice does not use them.
    ``"weighted_ce"`` is the U-Net paper's pixel-weighted CE: its ``forward`` requires ``weight_map``.

    Raises:
        ValueError: unknown name (the message lists the options), bad weights, wrong ``class_weights`` length.
        TypeError: ``spec`` neither str nor mapping.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    if class_weights is not None and len(class_weights) != num_classes:
        raise ValueError(
            f"class_weights has {len(class_weights)} entries but num_classes={num_classes}; "
            "give one weight per class."
        )
    terms = parse_loss_spec(spec)
    for name, weight in terms:
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise ValueError(f"loss weight for {name!r} must be a finite number >= 0, got {weight!r}.")
    modules = [(_build_one(name, num_classes, ignore_index, class_weights), float(w)) for name, w in terms]
    if len(modules) == 1 and modules[0][1] == 1.0:
        return modules[0][0]
    return CombinedLoss(modules)
