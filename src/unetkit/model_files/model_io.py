"""Save and load trained networks: ``model.safetensors`` + ``config.json``, or a Lightning ``.ckpt``.

Layouts accepted by :func:`load_model`:

* a model folder ``DIR/model.safetensors`` + ``DIR/config.json`` (what :func:`save_model` writes);
* a run folder ``RUN/model/`` (preferred) or, when training never exported, ``RUN/checkpoints/best.ckpt``
  then ``RUN/checkpoints/last.ckpt``;
* a Lightning checkpoint ``*.ckpt`` whose ``hyper_parameters["model_config"]`` is ``ModelConfig.to_dict()``
  and whose ``state_dict`` keys carry the LightningModule's ``model.`` prefix.

Checkpoints are read with ``torch.load(weights_only=True)``: a checkpoint is data, never code, so a file that
needs arbitrary classes to unpickle is refused rather than executed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from unetkit import __version__
from unetkit.files import atomic_dir, atomic_write_bytes
from unetkit.model_files.model_config import (
    CONFIG_NAME,
    MODEL_SUBDIR,
    ONNX_NAME,
    OPENVINO_NAME,
    UNREGISTERED_ARCHITECTURES,
    WEIGHTS_NAME,
    ModelConfig,
    weights_beside,
)
from unetkit.models import create_model, resolve_model_name
from unetkit.models.base import model_geometry

logger = logging.getLogger(__name__)

CHECKPOINT_SUBDIR = "checkpoints"
CHECKPOINT_NAMES = ("best.ckpt", "last.ckpt")
STATE_DICT_PREFIX = "model."
_MAX_LISTED = 10


def build_model(config: ModelConfig) -> nn.Module:
    """Instantiate the (untrained) network described by ``config`` via ``create_model``."""
    try:
        name = resolve_model_name(config.architecture)  # a deprecated name (pixel_cnn) warns and loads
    except ValueError as exc:
        raise ValueError(
            f"config architecture {config.architecture!r} is not a registered model: {exc}"
        ) from exc
    try:
        return create_model(name, **config.model_kwargs)
    except TypeError as exc:
        raise TypeError(
            f"model_kwargs {config.model_kwargs} do not fit architecture {config.architecture!r}: {exc}"
        ) from exc


def _expected_state(config: ModelConfig) -> dict[str, torch.Tensor] | None:
    """The state dict (shapes only: meta tensors) of the network ``config`` names, or None for an
    architecture the registry does not build (Mask R-CNN).

    Built on the meta device: no memory, no initialisation, and the global RNG is left alone."""
    if config.architecture.lower() in UNREGISTERED_ARCHITECTURES:
        return None
    with torch.random.fork_rng(devices=[]):  # the CPU fallback initialises weights randomly
        try:
            with torch.device("meta"):
                model = build_model(config)
        except (RuntimeError, NotImplementedError):
            # A user-registered model that computes real values in __init__ cannot be built on meta.
            model = build_model(config)
    return dict(model.state_dict())


def check_weights_fit_config(model: nn.Module, config: ModelConfig) -> None:
    """Raise ``ValueError`` unless ``model``'s state dict has the keys and shapes of the network that
    ``config`` describes (what :func:`load_model` will build and load the weights into)."""
    expected = _expected_state(config)
    if expected is None:
        return
    missing, unexpected, shapes = state_dict_mismatch(expected, model.state_dict(), ("weights", "config"))
    if missing or unexpected or shapes:
        listing = describe_mismatch(missing, unexpected, shapes, limit=3)
        raise ValueError(
            f"the weights of this {type(model).__name__} do not fit the config ({config.architecture!r}, "
            f"model_kwargs {config.model_kwargs}): {listing}; nothing "
            "was saved. Pass the config the model was built from (same architecture and model_kwargs, "
            "e.g. in_channels and num_classes)."
        )


def _cpu_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """State dict as contiguous CPU tensors that own their memory (safetensors refuses shared storage)."""
    tensors: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for name, value in model.state_dict().items():
        tensor = value.detach().to("cpu").contiguous()
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        # Tied/aliased parameters share storage; give each key its own copy so save_file accepts it.
        if tensor.numel() and key in seen:
            tensor = tensor.clone()
        seen.add(key)
        tensors[name] = tensor
    return tensors


def weights_digest(model: nn.Module) -> str:
    """Hex SHA-256 of the model's state dict (names, dtypes, shapes, values): identifies the weights an
    export was made from (deploy.json), whatever file or format holds them."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(_cpu_tensors(model).items()):
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        # bytes of the storage as laid out (contiguous): bf16 and bool have no NumPy view.
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def config_with_geometry(model: nn.Module, config: ModelConfig) -> ModelConfig:
    """A copy of ``config`` whose ``geometry`` is what ``model.geometry()`` states."""
    return dataclasses.replace(config, geometry=model_geometry(model).to_dict())


def save_model(model: nn.Module, config: ModelConfig, out_dir: str | Path) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/config.json``; returns ``out_dir``.

    Weights that do not fit ``config`` (:func:`check_weights_fit_config`) raise ``ValueError`` and write
    nothing. ``config.json`` records the model's geometry (:func:`config_with_geometry`). A new folder is
    written as a temporary sibling and renamed into place, so a crash never leaves a half-written model. An
    existing folder (which may hold other files, e.g. ``export/``) gets each file via temp file + rename; the
    weights go first, and :func:`load_model` checks shapes, so a crash between the two renames is detected
    on load rather than silently mixing models.
    """
    out_dir = Path(out_dir)
    check_weights_fit_config(model, config)
    tensors = _cpu_tensors(model)
    config = config_with_geometry(model, config)
    metadata = {"format": "pt", "unetkit_version": __version__, "architecture": config.architecture}
    weights = safetensors_bytes(tensors, metadata)
    if not out_dir.exists():
        with atomic_dir(out_dir) as tmp_dir:
            (tmp_dir / WEIGHTS_NAME).write_bytes(weights)
            config.save(tmp_dir / CONFIG_NAME)
    else:
        if not out_dir.is_dir():
            raise ValueError(
                f"{out_dir} exists and is not a folder; pass a folder path to save the model in."
            )
        atomic_write_bytes(out_dir / WEIGHTS_NAME, weights)
        config.save(out_dir / CONFIG_NAME)
    logger.info("saved %s model to %s", config.architecture, out_dir)
    return out_dir


def safetensors_bytes(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> bytes:
    """The safetensors file of ``tensors``, its header's metadata keys in sorted order.

    The library writes the metadata from a hash map, in another order at each save: the same weights gave
    files that differed byte for byte, so a checksum could not tell a reproduced model (``fit --replay``).
    The header keeps its length (the same keys and values), so the data offsets stay valid.
    """
    data = save(dict(tensors), metadata=dict(metadata))
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > size:  # not expected: the same keys and values, reordered
        return data
    return data[:8] + text.ljust(size, b" ") + data[8 + size :]


def state_dict_mismatch(
    expected: Mapping[str, torch.Tensor],
    state: Mapping[str, torch.Tensor],
    names: tuple[str, str] = ("file", "model"),
) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, shape mismatches as "key: file (..) vs model (..)", ``names`` naming
    the two sides) of ``state`` against a model's ``expected`` state dict, in the model's order (safetensors
    sorts keys), so listings read top-down."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: {names[0]} {tuple(state[k].shape)} vs {names[1]} {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    return missing, unexpected, shapes


def describe_mismatch(
    missing: Sequence[str], unexpected: Sequence[str], shapes: Sequence[str], limit: int = _MAX_LISTED
) -> str:
    """Counts and the first ``limit`` of each kind, e.g. "2 missing keys [a, b]; 1 shape mismatches [...]"."""

    def listed(items: Sequence[str]) -> str:
        more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
        return f"[{', '.join(items[:limit])}{more}]"

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys {listed(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys {listed(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches {listed(shapes)}")
    return "; ".join(parts)


def _format_mismatch(
    source: Path, architecture: str, missing: list[str], unexpected: list[str], shapes: list[str]
) -> str:
    return (
        f"weights in {source} do not match architecture {architecture!r}: "
        f"{describe_mismatch(missing, unexpected, shapes)}. "
        "Check that config.json belongs to these weights (same architecture and model_kwargs)."
    )


def load_state_dict_checked(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: Path,
    architecture: str,
    strict: bool = True,
) -> None:
    """``model.load_state_dict`` with an error that lists every mismatch (first 10 of each kind + counts).

    Shape mismatches always fail; missing/unexpected keys fail only when ``strict`` (else logged).
    """
    missing, unexpected, shapes = state_dict_mismatch(model.state_dict(), state_dict)
    if shapes or (strict and (missing or unexpected)):
        raise ValueError(_format_mismatch(source, architecture, missing, unexpected, shapes))
    if missing or unexpected:
        logger.warning("%s", _format_mismatch(source, architecture, missing, unexpected, []))
    model.load_state_dict(dict(state_dict), strict=False)


def _resolve(path: Path) -> Path:
    """Map a user path to a model folder or a ``.ckpt`` file (raising FileNotFoundError with the layout)."""
    if path.is_file():
        if path.suffix == ".ckpt":
            return path
        if path.name in (WEIGHTS_NAME, CONFIG_NAME):
            return path.parent
        raise ValueError(
            f"{path}: not a model file; pass a model folder ({WEIGHTS_NAME} + {CONFIG_NAME}), "
            "a run folder or a Lightning .ckpt file."
        )
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist; pass a model folder, a run folder or a .ckpt file.")
    if (path / MODEL_SUBDIR).is_dir():
        return path / MODEL_SUBDIR
    if (path / WEIGHTS_NAME).exists() or (path / CONFIG_NAME).exists():
        return path
    for name in CHECKPOINT_NAMES:
        ckpt = path / CHECKPOINT_SUBDIR / name
        if ckpt.is_file():
            logger.info("%s has no %s/ folder; loading %s", path, MODEL_SUBDIR, ckpt)
            return ckpt
    raise FileNotFoundError(
        f"{path}: no model found; a model folder must contain {WEIGHTS_NAME} and {CONFIG_NAME}, "
        f"a run folder must contain {MODEL_SUBDIR}/ or {CHECKPOINT_SUBDIR}/best.ckpt or last.ckpt."
    )


def read_model_config(path: str | Path) -> tuple[ModelConfig, Path]:
    """The :class:`ModelConfig` of a run folder, model folder, ``config.json`` or ``.ckpt`` (as
    :func:`load_model` finds it) and the file it was read from; a folder's weights are not read."""
    where = _resolve(Path(path))
    if where.suffix == ".ckpt":
        return _read_ckpt(where, "cpu")[1], where
    config_path = where / CONFIG_NAME
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found; a model folder must contain {CONFIG_NAME}")
    return ModelConfig.load(config_path), config_path


def _renamed_exports(folder: Path) -> str:
    """``; it holds nuclei.onnx: rename it to model.onnx ...`` when ``folder`` holds an exported model under
    another name (which the model-folder rule does not look for), else ``.``."""
    wanted = {".onnx": ONNX_NAME, ".xml": OPENVINO_NAME}
    for f in sorted(folder.iterdir()) if folder.is_dir() else ():
        target = wanted.get(f.suffix.lower())
        if target and f.name != target and f.is_file():
            return f"; it holds {f.name}: rename it to {folder / target} (beside its {CONFIG_NAME}) to run it"
    return "."


def _export_folder_error(folder: Path) -> FileNotFoundError | None:
    """For an export folder (``unetkit export``'s: exported models and ``config.json``, never
    ``model.safetensors``) loaded as a PyTorch model, the error saying it holds no PyTorch weights and where
    they are; None for any other folder."""
    exported = [name for name in (OPENVINO_NAME, ONNX_NAME) if (folder / name).is_file()]
    if (folder / WEIGHTS_NAME).is_file() or not exported or not (folder / CONFIG_NAME).is_file():
        return None
    beside = weights_beside(folder)
    if beside is not None:
        where = f"{beside} (or {folder.parent}, which holds it)"
    else:
        where = (
            f"the run's {MODEL_SUBDIR}/ folder (or the run folder), copied beside it if it was shipped alone"
        )
    return FileNotFoundError(
        f"{folder} is an export folder ({', '.join(exported)}): it holds no PyTorch weights "
        f"({WEIGHTS_NAME}), which `unetkit export` does not copy; to run PyTorch, pass {where}; to run the "
        "exported model, use backend auto, onnxruntime or openvino"
    )


def _read_folder(folder: Path, device: str) -> tuple[dict[str, torch.Tensor], ModelConfig, Path]:
    exported = _export_folder_error(folder)
    if exported is not None:
        raise exported
    for name in (WEIGHTS_NAME, CONFIG_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder / name} not found; a model folder must contain {WEIGHTS_NAME} and {CONFIG_NAME} "
                f"(a run's model/ folder){_renamed_exports(folder)}"
            )
    config = ModelConfig.load(folder / CONFIG_NAME)
    weights = folder / WEIGHTS_NAME
    try:
        state_dict = load_file(str(weights), device=device)
    except SafetensorError as exc:
        raise ValueError(f"{weights}: not a readable safetensors file ({exc}); re-save the model.") from exc
    return state_dict, config, weights


def blocked_global(exc: BaseException) -> str:
    """The global that torch's safe unpickler refused (e.g. ``posix.system``), from its error text.

    torch's message is a page long and opens with advice to turn the check off; only the name is quoted.
    """
    match = re.search(r"unsupported (?:global: )?GLOBAL ([\w.]+)", str(exc), flags=re.IGNORECASE)
    if match:
        return f"the global {match.group(1)}"
    match = re.search(r"Unsupported operand \d+|Unsupported class [\w.]+", str(exc))
    return f"an object torch does not load as data ({match.group(0)})" if match else "non-tensor objects"


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)``: tensors and primitive containers only, never custom code."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{path}: refusing to load: the checkpoint names {blocked_global(exc)}, which unetkit never "
            "imports or runs from a file (checkpoints are read as tensors and plain containers only); "
            "re-save it with primitive hyper-parameters, or convert it with a script you trust."
        ) from exc
    except (RuntimeError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{path}: not a readable PyTorch checkpoint ({first}); it is truncated or corrupt."
        ) from exc
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: expected a checkpoint dict, got {type(ckpt).__name__}.")
    return ckpt


def _read_ckpt(path: Path, map_location: str | torch.device) -> tuple[dict[str, torch.Tensor], ModelConfig]:
    ckpt = read_checkpoint(path, map_location)
    hparams = ckpt.get("hyper_parameters")
    if not isinstance(hparams, dict) or not isinstance(hparams.get("model_config"), dict):
        raise ValueError(
            f"{path}: checkpoint has no hyper_parameters['model_config'], so its architecture is unknown; "
            "it must come from unetkit training (LightningModule.save_hyperparameters with "
            "model_config=ModelConfig.to_dict()), or save the model with save_model(model, config, dir)."
        )
    config = ModelConfig.from_dict(hparams["model_config"], source=f"{path} hyper_parameters.model_config")
    raw = ckpt.get("state_dict")
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: checkpoint has no 'state_dict' dict; is it a Lightning checkpoint?")
    # The LightningModule holds the network as ``self.model``; other entries (loss weights, metric
    # states) belong to the training wrapper, not to the network, and are dropped.
    if any(k.startswith(STATE_DICT_PREFIX) for k in raw):
        state_dict = {
            k[len(STATE_DICT_PREFIX) :]: v for k, v in raw.items() if k.startswith(STATE_DICT_PREFIX)
        }
    else:
        state_dict = dict(raw)
    return state_dict, config


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu", strict: bool = True
) -> tuple[nn.Module, ModelConfig]:
    """Load a network and its config from a model folder, a run folder or a Lightning ``.ckpt``.

    Returns the model in eval mode on ``map_location``. Mismatching weights raise ``ValueError`` listing the
    missing/unexpected keys and shape mismatches; a missing file raises ``FileNotFoundError``. The global
    RNG is left as it was (building the network initialises it randomly before the weights replace that).
    """
    source = _resolve(Path(path))
    if source.is_file():
        state_dict, config = _read_ckpt(source, "cpu")
    else:
        state_dict, config, source = _read_folder(source, "cpu")
    with torch.random.fork_rng(devices=[]):  # the network is built on the CPU
        model = build_model(config)
    load_state_dict_checked(model, state_dict, source, config.architecture, strict=strict)
    return model.to(map_location).eval(), config
