"""One registry of inference backends: ``load_predictor(model, backend=...)`` for every caller.

``unetkit predict``, ``unetkit test``, ``unetkit serve``, ``unetkit benchmark`` and the benchmarks build their
predictor here, so a backend added once (``@register_backend("name")`` in its own module, listed in
``_BUILTIN`` so that it is found without importing it first) is available everywhere.

The registry maps a name to a factory ``factory(model_path, **kwargs) -> BasePredictor``. Factories are
looked up lazily by module path, so importing this module (and choosing the onnxruntime backend) never
imports torch.

Threads: ``load_predictor(..., num_threads=N)`` is the one place that gives an engine its thread count
(``unetkit serve --threads``): onnxruntime and OpenVINO per session (their factory's ``num_threads``), torch
per process (:func:`set_torch_threads`), backend auto to the engines it times and to the one it picks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from unetkit.options import check_positive_int, look_up_option

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
    """Decorator: register ``factory(model_path, **kwargs) -> BasePredictor`` under ``name``.

    A factory gets ``num_threads`` (and ``concurrency`` above 1) among its ``kwargs`` only when the caller of
    :func:`load_predictor` gives them (see :func:`apply_threads`).
    """

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


def set_torch_threads(num_threads: int) -> None:
    """torch's intra-op threads: one count per process, used by each thread that runs a torch model (a thread
    that has not run torch yet takes it on its first op; threads x count above the cores makes OpenMP threads
    wait on each other)."""
    import torch

    torch.set_num_threads(check_positive_int(num_threads, "num_threads"))


def apply_threads(backend: str, num_threads: int | None, concurrency: int = 1) -> dict[str, Any]:
    """Give ``backend`` ``num_threads`` threads per prediction, with ``concurrency`` predictions at once on
    the predictor (threads sharing it); returns the options to pass its factory. None: the engine's default.

    torch's intra-op threads are the process's, so they are set here (:func:`set_torch_threads`) and nothing
    is passed; every other engine gets ``num_threads`` (onnxruntime: intra-op threads of its session;
    OpenVINO: threads of each stream) and, above 1, ``concurrency`` (OpenVINO runs one request per stream at
    a time, so it needs as many streams; torch and onnxruntime run each call on its caller's thread); auto
    passes both on to the engine it picks.
    """
    check_positive_int(concurrency, "concurrency")
    if num_threads is not None:
        check_positive_int(num_threads, "num_threads")
    if backend == "torch":
        if num_threads is not None:
            set_torch_threads(num_threads)
        return {}
    options: dict[str, Any] = {} if num_threads is None else {"num_threads": num_threads}
    if concurrency > 1:  # only then: a factory that runs one prediction at a time need not take it
        options["concurrency"] = concurrency
    return options


def load_predictor(
    model: str | Path,
    backend: str = "torch",
    *,
    num_threads: int | None = None,
    concurrency: int = 1,
    **kwargs: Any,
) -> Any:
    """A predictor for ``model`` (run folder, model folder, ``.ckpt`` or exported folder).

    ``kwargs`` are the backend's own options (``device``, ``amp`` for torch) plus the tiling/TTA options of
    :class:`~unetkit.inference.pipeline.BasePredictor` (``tile_size``, ``overlap``, ``blend``, ``batch_size``,
    ``tta``, ``pad_mode``, ``progress``). ``num_threads``: inference threads of each prediction, for every
    engine (None: the engine's default, all cores; torch's are the whole process's); ``concurrency``:
    predictions run on the predictor at once, from as many threads (:func:`apply_threads`).
    """
    key = look_up_option(backend, list_backends(), "backend")
    factory = get_backend(key)
    return factory(Path(model), **apply_threads(key, num_threads, concurrency), **kwargs)
