"""The loss registry (``@register_loss``) and ``create_loss``, which builds a loss from a short spec."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from torch import nn

from unetkit.constants import IGNORE_INDEX
from unetkit.losses.compound import CombinedLoss
from unetkit.losses.cross_entropy import CrossEntropyLoss
from unetkit.losses.dice import DiceLoss
from unetkit.losses.focal import FocalLoss
from unetkit.losses.functional import check_num_classes
from unetkit.options import look_up_option

__all__ = ["create_loss", "list_losses", "parse_loss_spec", "register_loss"]

# builder(num_classes, ignore_index, class_weights) -> nn.Module with forward(logits, target, weight_map=None)
LossBuilder = Callable[[int, int, Sequence[float] | None], nn.Module]
B = TypeVar("B", bound=LossBuilder)
_LOSSES: dict[str, LossBuilder] = {}


def register_loss(name: str) -> Callable[[B], B]:
    """Decorator: register ``builder(num_classes, ignore_index, class_weights) -> nn.Module`` as ``name``.

    The module's ``forward(logits (N, K, H, W), target (N, H, W), weight_map (N, H, W) | None)`` returns a
    scalar; set ``require_weight_map = True`` on it when it cannot work without the U-Net weight map.
    """

    def decorate(builder: B) -> B:
        key = name.lower()
        if "+" in key or not key:
            raise ValueError(f"loss name {name!r} must be non-empty and must not contain '+'.")
        if key in _LOSSES:
            raise ValueError(f"A loss is already registered under the name {key!r}.")
        _LOSSES[key] = builder
        return builder

    return decorate


def list_losses() -> list[str]:
    """Names accepted in a loss spec, sorted."""
    return sorted(_LOSSES)


@register_loss("ce")
def _ce(num_classes: int, ignore_index: int, class_weights: Sequence[float] | None) -> nn.Module:
    return CrossEntropyLoss(class_weights=class_weights, ignore_index=ignore_index)


@register_loss("weighted_ce")
def _weighted_ce(num_classes: int, ignore_index: int, class_weights: Sequence[float] | None) -> nn.Module:
    # The U-Net paper's pixel-weighted cross-entropy: every training batch must carry a weight map.
    return CrossEntropyLoss(class_weights=class_weights, ignore_index=ignore_index, require_weight_map=True)


@register_loss("focal")
def _focal(num_classes: int, ignore_index: int, class_weights: Sequence[float] | None) -> nn.Module:
    return FocalLoss(alpha=class_weights, ignore_index=ignore_index)


@register_loss("dice")
def _dice(num_classes: int, ignore_index: int, class_weights: Sequence[float] | None) -> nn.Module:
    return DiceLoss(num_classes=num_classes, ignore_index=ignore_index)  # Dice has no class weights


def parse_loss_spec(spec: str | Mapping[str, float]) -> list[tuple[str, float]]:
    """``"ce+dice"`` or ``{"ce": 1.0, "dice": 0.5}`` -> ``[(name, weight), ...]`` with checked names/weights.

    Raises:
        ValueError: unknown name (the message lists the registered ones), repeated name, bad weight.
        TypeError: ``spec`` neither str nor mapping.
    """
    if isinstance(spec, str):
        terms: list[tuple[str, object]] = [(part.strip(), 1.0) for part in spec.split("+")]
    elif isinstance(spec, Mapping):
        terms = [(str(name), weight) for name, weight in spec.items()]
    else:
        raise TypeError(f"loss spec must be a str like 'ce+dice' or a dict like {{'ce': 1.0}}, got {spec!r}.")
    if not terms:
        raise ValueError(f"loss spec {spec!r} is empty; choose from {', '.join(list_losses())}.")
    names = [look_up_option(name, list_losses(), "loss") for name, _ in terms]
    if len(set(names)) != len(names):
        raise ValueError(f"loss spec {spec!r} repeats a loss; give each name once with its weight.")
    for name, (_, weight) in zip(names, terms, strict=True):
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise ValueError(f"loss weight for {name!r} must be a finite number >= 0, got {weight!r}.")
    return [(name, float(weight)) for name, (_, weight) in zip(names, terms, strict=True)]  # type: ignore[arg-type]


def create_loss(
    spec: str | Mapping[str, float],
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    class_weights: Sequence[float] | None = None,
) -> nn.Module:
    """Create a loss from a registered name (``"ce"``, ``"dice"``, ``"focal"``, ``"weighted_ce"``), a sum or
    a dict.

    Dict form: ``{"ce": 1.0, "dice": 0.5}`` (name -> weight).

    A ``"+"``-joined string gives every term weight 1. A single name (or a one-entry dict with weight 1)
    returns the plain module, otherwise a :class:`CombinedLoss`. ``class_weights`` (length ``num_classes``)
    go to the cross-entropy terms as class weights and to focal as ``alpha``; Dice does not use them.
    ``"weighted_ce"`` is the U-Net paper's pixel-weighted CE: its ``forward`` requires ``weight_map``.

    Raises:
        ValueError: unknown name (the message lists the options), bad weights, wrong ``class_weights``
            length, ``num_classes=1`` (binary segmentation is 2 classes).
        TypeError: ``spec`` neither str nor mapping.
    """
    num_classes = check_num_classes(num_classes)
    if class_weights is not None and len(class_weights) != num_classes:
        raise ValueError(
            f"class_weights has {len(class_weights)} entries but num_classes={num_classes}; "
            "give one weight per class."
        )
    terms = parse_loss_spec(spec)
    modules = [(_LOSSES[name](num_classes, ignore_index, class_weights), w) for name, w in terms]
    if len(modules) == 1 and modules[0][1] == 1.0:
        return modules[0][0]
    return CombinedLoss(modules)
