"""One registry for every architecture: ``create_model(name, **kwargs)`` and ``list_models()``."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
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


def registered_name(name: str) -> str | None:
    """The registered name of ``name`` (case-insensitive; a deprecated alias gives its replacement, without
    warning), or None where no model is registered under it."""
    _ensure_loaded()
    key = str(name).lower()
    key = _DEPRECATED.get(key, key)
    return key if key in _MODELS else None


def model_builder(name: str) -> Callable[..., nn.Module]:
    """The class or function registered as model ``name`` (its signature holds its keywords and their
    defaults: ``unetkit explain model`` prints them). An unknown name raises ``ValueError`` listing the
    registered names."""
    _ensure_loaded()
    return _MODELS[resolve_model_name(name)]


def model_keywords(name: str) -> frozenset[str] | None:
    """The keywords model ``name`` takes (its builder's signature), or None where it takes any (``**kwargs``)
    or its signature cannot be read. An unknown name raises ``ValueError`` listing the registered names."""
    builder = _MODELS[resolve_model_name(name)]
    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):  # a builder without a readable signature: nothing to check against
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return frozenset(k for k, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL)


def check_model_kwargs(name: str, kwargs: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` naming a keyword that model ``name`` does not take, with a did-you-mean (a
    misspelled ``depht=3`` was a bare TypeError, or passed a saved config unnoticed until it was built)."""
    known = model_keywords(name)
    if known is None:
        return
    for key in kwargs:
        if key not in known:
            try:
                look_up_option(str(key), sorted(known), name=f"keyword of model {name!r}")
            except ValueError as exc:  # Python's own type for it: callers may catch TypeError
                raise TypeError(f"unexpected keyword argument {key!r}: {exc}") from None


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model: ``create_model("unet", in_channels=1, num_classes=2, depth=4)``.

    An unknown name raises ``ValueError`` listing the registered names; a deprecated name warns; a keyword
    the model does not take raises ``TypeError`` with a did-you-mean (:func:`check_model_kwargs`).
    """
    key = resolve_model_name(name)  # once: a deprecated name warns once
    check_model_kwargs(key, kwargs)
    return _MODELS[key](**kwargs)


def _ensure_loaded() -> None:
    # Registration happens as a side effect of importing the architecture modules.
    import unetkit.models  # noqa: F401
