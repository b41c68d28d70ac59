"""One registry of inference backends: ``load_predictor(model, backend=...)`` for every caller.

``unetkit predict``, ``unetkit test``, ``unetkit serve``, ``unetkit benchmark`` and the benchmarks build their
predictor here, so a backend added once (``@register_backend("name")`` in its own module, listed in
``_BUILTIN`` so that it is found without importing it first) is available everywhere.

The registry maps a name to a factory ``factory(model_path, **kwargs) -> BasePredictor``. Factories are
looked up lazily by module path, so importing this module (and choosing the onnxruntime backend) never
imports torch.

Threads: ``load_predictor(..., num_threads=N)`` is the one place that gives an engine its thread count
(``unetkit serve --threads``): onnxruntime and OpenVINO per session, torch per call (its count is the
process's, so the torch predictor sets it for each forward pass and puts the caller's back afterwards:
:func:`torch_threads`), backend auto to the engines it times and to the one it picks; every factory gets it
as ``num_threads``.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import importlib
import inspect
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from unetkit.devices import torch_threads  # noqa: F401 (re-exported: predictors and auto import it here)
from unetkit.inference.variants import MODEL_FILES, VARIANT_DIRS
from unetkit.model_files.model_config import CONFIG_NAME, WEIGHTS_NAME
from unetkit.options import check_positive_int, look_up_option

if TYPE_CHECKING:  # the pipeline imports NumPy and Pillow: listing the backends needs neither
    from unetkit.inference.pipeline import BasePredictor

BackendFactory = Callable[..., Any]
logger = logging.getLogger(__name__)
# Whether load_predictor logs the engine it loaded at INFO (see quiet_engine_lines): a context variable, so
# one thread's timing run (backend auto, benchmark) does not silence another thread's load.
_ENGINE_LINES: contextvars.ContextVar[bool] = contextvars.ContextVar("unetkit_engine_lines", default=True)

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


def apply_threads(backend: str, num_threads: int | None, concurrency: int = 1) -> dict[str, Any]:
    """Give ``backend`` ``num_threads`` threads per prediction, with ``concurrency`` predictions at once on
    the predictor (threads sharing it); returns the options to pass its factory. None: the engine's default.

    Every engine gets ``num_threads`` (onnxruntime: intra-op threads of its session; OpenVINO: threads of each
    stream; torch: the process's count during each forward pass, :func:`torch_threads`) and, above 1,
    ``concurrency`` (OpenVINO runs one request per stream at a time, so it needs as many streams; torch and
    onnxruntime run each call on its caller's thread, so torch is not given it); auto passes both on to the
    engine it picks.
    """
    check_positive_int(concurrency, "concurrency")
    if num_threads is not None:
        check_positive_int(num_threads, "num_threads")
    options: dict[str, Any] = {} if num_threads is None else {"num_threads": num_threads}
    # Only then: an engine that runs one prediction at a time need not take it.
    if concurrency > 1 and backend != "torch":
        options["concurrency"] = concurrency
    return options


class NamedModel(NamedTuple):
    """The one exported model a MODEL path names (:func:`named_model`): the engine that runs it, its
    precision, and the export folder it belongs to (whose ``deploy.json`` holds its accuracy gate)."""

    backend: str
    precision: str
    export_dir: Path


# model.onnx -> onnxruntime, model.xml -> openvino: the one file each exported engine loads.
_ENGINE_OF_FILE = {name: backend for backend, name in MODEL_FILES.items()}
# int8-openvino -> (openvino, int8): a reduced-precision variant is a sub-folder of its export folder.
_VARIANT_OF_DIR = {sub: key for key, sub in VARIANT_DIRS.items()}
_FORMATS = {"onnxruntime": "ONNX", "openvino": "OpenVINO"}
# Files the torch loader takes itself (model_io._resolve: a checkpoint, or a model folder's own files).
_TORCH_FILES = (WEIGHTS_NAME, CONFIG_NAME)
_CHECKED_BACKENDS = ("torch", "onnxruntime", "openvino", "auto")


def named_model(model: str | Path) -> NamedModel | None:
    """The exported model ``model`` names by itself: an export's ``model.onnx`` or ``model.xml`` file, or a
    reduced-precision variant folder (``int8-openvino/``) or its model file. None for a run, model or export
    folder and for a checkpoint: those hold a torch model or several exports to choose from.

    The precision comes from where the file lies: ``export/int8-openvino/model.xml`` is INT8 (its folder is
    named by ``unetkit export --precision int8``), ``export/model.xml`` fp32.
    """
    path = Path(model)
    if path.is_file():
        backend = _ENGINE_OF_FILE.get(path.name)
        folder = path.parent
    elif path.name in _VARIANT_OF_DIR and path.is_dir():
        backend = _VARIANT_OF_DIR[path.name][0]
        folder = path
        if not (folder / MODEL_FILES[backend]).is_file():
            return None
    else:
        return None
    if backend is None:
        return None
    variant = _VARIANT_OF_DIR.get(folder.name)
    if variant is not None and variant[0] == backend:
        return NamedModel(backend, variant[1], folder.parent)
    return NamedModel(backend, "fp32", folder)


def check_model_file(model: str | Path, backend: str) -> None:
    """Refuse a model FILE that ``backend`` would not run as named, in one line naming the file and the fix.

    The exported engines load a folder (a file's folder too), so any other file than their own model file
    would silently run another model of that folder (``model.ts.pt`` ran the folder's INT8 OpenVINO model).
    Allowed: ``model.onnx`` for onnxruntime, ``model.xml`` for openvino, either of them or a torch file
    (``.ckpt``, ``model.safetensors``, ``config.json``) for auto; the torch loader checks its own files.
    Folders, and backends registered by others, are not checked here.
    """
    path = Path(model)
    if backend not in _CHECKED_BACKENDS or not path.is_file():
        return
    engine = _ENGINE_OF_FILE.get(path.name)
    if backend == "torch":
        if engine is not None:
            raise ValueError(
                f"{path} is an exported {_FORMATS[engine]} model; the torch backend loads a run folder, a "
                f"model folder or a .ckpt: run this file with --backend {engine} (or auto)."
            )
        return
    if engine == backend or (
        backend == "auto" and (engine is not None or path.suffix == ".ckpt" or path.name in _TORCH_FILES)
    ):
        return
    folder = path.parent
    if engine is not None:  # the other engine's model file
        own = folder / MODEL_FILES[backend]
        raise ValueError(
            f"{path} is an {_FORMATS[engine]} model, which the {backend} backend does not run; run it with "
            f"--backend {engine} (or auto)" + (f", or pass {own}." if own.is_file() else ".")
        )
    what = _file_kind(path)
    suffix = path.suffix.lower()
    if suffix in (".onnx", ".xml") and path.name not in _ENGINE_OF_FILE:
        # A model exported under another name: the engines load their file by its name, from its folder.
        engine = "onnxruntime" if suffix == ".onnx" else "openvino"
        name = MODEL_FILES[engine]
        config = (
            f"with the {CONFIG_NAME} of its export beside it"
            if not (folder / CONFIG_NAME).is_file()
            else f"beside its {folder / CONFIG_NAME}"
        )
        if (folder / name).is_file():  # renaming it there would replace that model
            raise ValueError(
                f"{path}: the {engine} backend loads a model file named {name}, and {folder} holds another "
                f"one; move it into a folder of its own as {name}, with the {CONFIG_NAME} of its export "
                "beside it, and pass that file or folder."
            )
        raise ValueError(
            f"{path}: the {engine} backend loads a model file named {name}; rename it to "
            f"{folder / name} ({config}) and pass that file or its folder."
        )
    if what == NOT_A_MODEL:
        raise ValueError(f"{path}: {what}; {MODEL_HELP}.")
    if backend == "auto":
        runnable = [str(folder / name) for name in MODEL_FILES.values() if (folder / name).is_file()]
        fix = f"pass its folder {folder} (backend auto picks the fastest model there)" + (
            f" or one of its models: {', '.join(runnable)}" if runnable else ""
        )
    else:
        name = MODEL_FILES[backend]
        if (folder / name).is_file():
            fix = f"pass {folder / name} or its folder {folder} with --backend {backend}"
        else:
            fix = f"pass a folder with {name} and {CONFIG_NAME} (`unetkit export` writes them)"
        if path.suffix == ".ckpt" or path.name in _TORCH_FILES:
            fix += ", or run it with --backend torch"
    runner = "backend auto" if backend == "auto" else f"the {backend} backend"
    raise ValueError(f"{path}: {what}, which {runner} does not run; {fix}.")


def _file_kind(path: Path) -> str:
    """What a file given as MODEL is, in a few words (for :func:`check_model_file`'s refusal)."""
    suffix = path.suffix.lower()
    if path.name.lower().endswith(".ts.pt"):  # the name `unetkit export --format torchscript` writes
        return "a TorchScript file"
    if suffix == ".ckpt":
        return "a PyTorch checkpoint"
    if path.name == WEIGHTS_NAME:
        return "the weights of a PyTorch model folder"
    if path.name == CONFIG_NAME:
        return "a model's config file"
    if suffix in (".pt", ".pth", ".jit"):
        return "a TorchScript or pickled PyTorch file"
    if suffix == ".bin" and path.with_suffix(".xml").is_file():
        return f"the weights of the OpenVINO model {path.with_suffix('.xml').name} (that file loads them)"
    if suffix in (".onnx", ".xml"):
        engine = "onnxruntime" if suffix == ".onnx" else "openvino"
        return f"a model not named {MODEL_FILES[engine]} (the name the {engine} backend loads)"
    return NOT_A_MODEL


NOT_A_MODEL = "not a model file"
# What MODEL may be, for a refusal of any other file.
MODEL_HELP = (
    "MODEL is a run folder, a model folder (model.safetensors + config.json), a .ckpt checkpoint, an export "
    "folder (`unetkit export`), or an exported model.onnx or model.xml"
)


@contextlib.contextmanager
def quiet_engine_lines() -> Iterator[None]:
    """During the block, :func:`load_predictor` logs the engine it loads at DEBUG, not INFO: for predictors
    built to be timed or gated (backend auto's and ``unetkit benchmark``'s candidates, the export's accuracy
    gate), which are not the engine a prediction then runs."""
    token = _ENGINE_LINES.set(False)
    try:
        yield
    finally:
        _ENGINE_LINES.reset(token)


def engine_line(predictor: Any) -> str | None:
    """ "openvino bf16 (export/model.xml)": the engine, precision and model file an exported-engine predictor
    runs (its ``engine()``), or None for a predictor that does not say (eager torch, others' backends)."""
    describe = getattr(predictor, "engine", None)
    engine = describe() if callable(describe) else None
    if engine is None:
        return None
    backend, precision, path = engine
    return f"{backend} {precision} ({path})"


def load_predictor(
    model: str | Path,
    backend: str = "torch",
    *,
    num_threads: int | None = None,
    concurrency: int = 1,
    **kwargs: Any,
) -> BasePredictor:
    """A predictor for ``model`` (run folder, model folder, ``.ckpt``, exported folder, or an exported
    ``model.onnx`` / ``model.xml``: any other file is refused, see :func:`check_model_file`).

    ``kwargs`` are the backend's own options (``device``, ``amp`` for torch) plus the tiling/TTA options of
    :class:`~unetkit.inference.pipeline.BasePredictor` (``tile_size``, ``overlap``, ``blend``, ``batch_size``,
    ``tta``, ``pad_mode``, ``progress``). ``num_threads``: inference threads of each prediction, for every
    engine (None: the engine's default, all cores; torch's is set for each forward pass and put back after
    it: :func:`torch_threads`); ``concurrency``: predictions run on the predictor at once, from as many
    threads (:func:`apply_threads`).
    """
    key = look_up_option(backend, list_backends(), "backend")
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a path (a run or model folder, or an exported file), got {model!r}")
    check_model_file(model, key)
    factory = get_backend(key)
    try:
        predictor = factory(Path(model), **apply_threads(key, num_threads, concurrency), **kwargs)
    except TypeError as exc:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unknown is None or unknown.group(1) not in kwargs:
            raise
        raise TypeError(_unknown_option(unknown.group(1), key, factory)) from None
    # auto loads its choice through this function, which named it then: once is enough.
    line = engine_line(predictor) if key != "auto" else None
    if line is not None:
        # What runs, named once where it is loaded (backend auto loads its choice through here too):
        # `--backend openvino` on an export folder runs fp32, `auto` may run bf16 or INT8.
        logger.log(logging.INFO if _ENGINE_LINES.get() else logging.DEBUG, "running %s", line)
    return predictor


def _unknown_option(name: str, backend: str, factory: BackendFactory) -> str:
    """``load_predictor(tile=3)``: the option named, with the closest known one (Python's own message had
    no hint)."""
    from unetkit.inference.pipeline import PredictOptions

    named = {*PredictOptions.__annotations__, *inspect.signature(factory).parameters}
    known = sorted(named - {"path", "options"} | {"num_threads", "concurrency"})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"load_predictor got an unknown option {name!r} for backend {backend!r}.{hint} "
        f"Options: {', '.join(known)}."
    )
