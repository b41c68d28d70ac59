"""One registry of inference backends: ``load_predictor(model, backend=...)`` for every caller.

``unetkit predict``, ``unetkit test``, ``unetkit serve``, ``unetkit benchmark`` and the benchmarks build their
predictor here, so a backend added once (``@register_backend("name")`` in its own module, listed in
``_BUILTIN`` so that it is found without importing it first) is available everywhere.

The registry maps a name to a factory ``factory(model_path, **kwargs) -> BasePredictor``. Factories are
looked up lazily by module path, so importing this module (and choosing the onnxruntime backend) never
imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from unetkit.options import look_up_option

BackendFactory = Callable[..., Any]

# name -> module that registers it on import (lazy: the torch backend must not load for onnxruntime).
_BUILTIN: dict[str, str] = {
    "torch": "unetkit.inference.predictor",
    "onnxruntime": "unetkit.inference.ort_backend",
    "openvino": "unetkit.inference.ov_backend",
    "auto": "unetkit.inference.auto_backend",
}
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Decorator: register ``factory(model_path, **kwargs) -> BasePredictor`` under ``name``."""

    def decorate(factory: BackendFactory) -> BackendFactory:
        key = name.lower()
        if key in _REGISTRY and _REGISTRY[key] is not factory:
            raise ValueError(f"An inference backend is already registered under the name {key!r}.")
        _REGISTRY[key] = factory
        return factory

    return decorate


def add_builtin_backend(name: str, module: str) -> None:
    """Make ``name`` known before ``module`` (which registers it) is imported."""
    _BUILTIN[name.lower()] = module


def list_backends() -> list[str]:
    """Names accepted by :func:`load_predictor`."""
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def get_backend(name: str) -> BackendFactory:
    """The factory registered under ``name``; an unknown name lists the options."""
    key = look_up_option(name, list_backends(), "backend")
    if key not in _REGISTRY:
        importlib.import_module(_BUILTIN[key])
    if key not in _REGISTRY:
        raise RuntimeError(f"module {_BUILTIN[key]} did not register backend {key!r}")  # programming error
    return _REGISTRY[key]


def load_predictor(model: str | Path, backend: str = "torch", **kwargs: Any) -> Any:
    """A predictor for ``model`` (run folder, model folder, ``.ckpt`` or exported folder).

    ``kwargs`` are the backend's own options (``device``, ``amp`` for torch) plus the tiling/TTA options of
    :class:`~unetkit.inference.pipeline.BasePredictor` (``tile_size``, ``overlap``, ``blend``, ``batch_size``,
    ``tta``, ``pad_mode``, ``progress``).
    """
    return get_backend(backend)(Path(model), **kwargs)
