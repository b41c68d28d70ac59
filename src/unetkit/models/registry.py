"""One registry for every architecture: ``create_model(name, **kwargs)`` and ``list_models()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from unetkit.options import look_up_option

_MODELS: dict[str, Callable[..., nn.Module]] = {}
F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[F], F]:
    """Decorator registering a model class or builder under ``name`` (lower snake case)."""

    def wrap(fn: F) -> F:
        key = name.lower()
        if key in _MODELS:
            raise ValueError(f"A model is already registered under the name {key!r}.")
        _MODELS[key] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _ensure_loaded()
    return sorted(_MODELS)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model: ``create_model("unet", in_channels=1, num_classes=2, depth=4)``.

    An unknown name raises ``ValueError`` listing the registered names.
    """
    _ensure_loaded()
    key = look_up_option(name, _MODELS, name="model")
    return _MODELS[key](**kwargs)


def _ensure_loaded() -> None:
    # Registration happens as a side effect of importing the architecture modules.
    import unetkit.models  # noqa: F401
