"""One registry for every architecture: ``create_model(name, **kwargs)`` and ``list_models()``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from torch import nn

from unetkit.options import look_up_option

_MODELS: dict[str, Callable[..., nn.Module]] = {}
# Old name -> current name: still built (saved configs keep loading), with a DeprecationWarning.
_DEPRECATED: dict[str, str] = {}
F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(name: str, deprecated_aliases: Sequence[str] = ()) -> Callable[[F], F]:
    """Decorator registering a model class or builder under ``name`` (lower snake case).

    ``deprecated_aliases`` are former names: :func:`create_model` still accepts them and warns; they are
    not listed by :func:`list_models`.
    """

    def wrap(fn: F) -> F:
        key = name.lower()
        aliases = [alias.lower() for alias in deprecated_aliases]
        for taken in (key, *aliases):
            if taken in _MODELS or taken in _DEPRECATED:
                raise ValueError(f"A model is already registered under the name {taken!r}.")
        _MODELS[key] = fn
        _DEPRECATED.update(dict.fromkeys(aliases, key))
        return fn

    return wrap


def resolve_model_name(name: str) -> str:
    """The registered name for ``name`` (case-insensitive); a deprecated alias warns and maps to its
    replacement, an unknown name raises ``ValueError`` listing the registered names."""
    _ensure_loaded()
    key = str(name).lower()
    if key in _DEPRECATED:
        new = _DEPRECATED[key]
        warnings.warn(
            f"model name {key!r} is deprecated; use {new!r} (the same model).",
            DeprecationWarning,
            stacklevel=3,
        )
        return new
    return look_up_option(name, _MODELS, name="model")


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _ensure_loaded()
    return sorted(_MODELS)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model: ``create_model("unet", in_channels=1, num_classes=2, depth=4)``.

    An unknown name raises ``ValueError`` listing the registered names; a deprecated name warns.
    """
    return _MODELS[resolve_model_name(name)](**kwargs)


def _ensure_loaded() -> None:
    # Registration happens as a side effect of importing the architecture modules.
    import unetkit.models  # noqa: F401
