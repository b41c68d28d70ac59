"""Shared pieces of the exporters: result record, valid sample sizes (from the model's geometry), atomic
file writes, verification."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unetkit.files import atomic_path
from unetkit.models.base import model_geometry
from unetkit.options import to_pair

logger = logging.getLogger(__name__)

DEFAULT_SIZE = 64  # sample side (px) when the model has no size constraint


@dataclass
class ExportResult:
    """What an export wrote and how well it agrees with eager PyTorch.

    ``max_abs_diff`` is measured on a random input of ``verify_shape`` (a different batch and, where the
    model allows it, a different height/width than ``sample_shape``); ``None`` when verification was off.
    """

    path: Path
    config_path: Path
    format: str
    exporter: str
    sample_shape: tuple[int, ...]
    verify_shape: tuple[int, ...] | None
    max_abs_diff: float | None
    dynamic_axes: list[str]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleSizes:
    """Trace and verification sizes, each (H, W); ``dynamic_hw`` is False for fixed-size models."""

    sample: tuple[int, int]
    verify: tuple[int, int]
    dynamic_hw: bool


def fixed_size(model: nn.Module) -> tuple[int, int] | None:
    """(H, W) of a model that accepts one size only (its geometry's ``fixed_input_size``), else ``None``."""
    return model_geometry(model).fixed_input_size


def valid_sizes(model: nn.Module, max_size: int) -> list[int] | None:
    """Accepted sides in ``[1, max_size]`` of a model with a valid-size rule (``unet_original``), else
    ``None`` (every multiple of the size divisor works)."""
    geometry = model_geometry(model)
    if geometry.unpadded_depth is None:
        return None
    return geometry.valid_sides(max_size)


def _nearest(values: list[int], target: int) -> int:
    """Element of ``values`` closest to ``target`` (the smaller one on ties)."""
    return min(values, key=lambda value: (abs(value - target), value))


def pick_sizes(model: nn.Module, size: int | tuple[int, int] | None = None) -> SampleSizes:
    """Valid (H, W) sizes to trace and to verify ``model`` with, from its geometry.

    * fixed-size models (``fcn_reshape``: ``fixed_input_size``) -> that size for both, static H/W;
    * models with a valid-size rule (``unet_original``) -> the valid side nearest ``size`` and the next two
      larger valid sides;
    * otherwise multiples of the size divisor at or above ``size`` (default 64); the verify size is
      non-square, and for ``size_divisor == 1`` deliberately not a power-of-two multiple so internal padding
      paths run.
    """
    fixed = fixed_size(model)
    if fixed is not None:
        return SampleSizes(fixed, fixed, dynamic_hw=False)
    want = to_pair(size if size is not None else DEFAULT_SIZE, "size", minimum=1)
    limit = 4 * max(want) + 64
    valid = valid_sizes(model, limit)
    if valid is not None:
        if len(valid) < 3:
            raise ValueError(
                f"{type(model).__name__} accepts fewer than three input sides up to {limit}: {valid}."
            )
        h, w = (_nearest(valid, target) for target in want)
        bigger = [s for s in valid if s > max(h, w)] or valid[-2:]
        return SampleSizes((h, w), (bigger[0], bigger[min(1, len(bigger) - 1)]), dynamic_hw=True)
    geometry = model_geometry(model)
    d = geometry.size_divisor
    h, w = (geometry.input_side(s) for s in want)  # the smallest valid sides at or above the wish
    verify = (h + 7, w + 13) if d == 1 else (h + d, w + 2 * d)
    return SampleSizes((h, w), verify, dynamic_hw=True)


def model_device(model: nn.Module) -> torch.device:
    """Device of the first parameter or buffer (CPU for a parameter-free model)."""
    for param in model.parameters():
        return param.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily switch to eval mode (exports must capture inference behaviour) and restore afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """Yield a temp path next to ``final`` (same suffix, for writers that pick the format from it); renamed
    onto ``final`` only if the block finishes, removed on any error (a refused export leaves no file)."""
    with atomic_path(final, suffix=Path(final).suffix) as tmp:
        yield tmp


def eager_output(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Reference logits (N, K, H', W') from eager PyTorch as float32 NumPy."""
    with torch.no_grad():
        out = model(x.to(model_device(model)))
    return out.detach().float().cpu().numpy()


def max_abs_diff(reference: np.ndarray, candidate: np.ndarray, what: str) -> float:
    """Largest absolute difference; shape disagreement is itself an error (the export is wrong)."""
    if reference.shape != candidate.shape:
        raise ValueError(
            f"{what} output shape {candidate.shape} differs from PyTorch {reference.shape}; "
            "the export baked in the trace size and cannot be used."
        )
    return float(np.max(np.abs(reference.astype(np.float64) - candidate.astype(np.float64))))


class Disagreement(ValueError):
    """An export whose outputs differ from eager PyTorch by more than the tolerance; ``diff`` is the max abs
    difference measured (NaN or inf for non-finite outputs)."""

    def __init__(self, message: str, diff: float) -> None:
        super().__init__(message)
        self.diff = diff


def check_agreement(diff: float, atol: float, what: str, shape: tuple[int, ...]) -> None:
    """Refuse an export whose outputs differ from PyTorch by more than ``atol`` (:class:`Disagreement`)."""
    if not np.isfinite(diff) or diff > atol:
        raise Disagreement(
            f"{what} disagrees with PyTorch on a random input of shape {shape}: max abs diff {diff:.3g} > "
            f"atol {atol:g}; export refused and no file written (raise --atol only if this is acceptable).",
            diff,
        )


def make_sample(
    model: nn.Module,
    config: Any,
    sample_size: tuple[int, int, int, int] | None,
    device: torch.device,
) -> torch.Tensor:
    """Random trace input (N, C, H, W): ``sample_size`` or (1, C, 64, 64), H/W moved to an accepted size."""
    channels = int(config.in_channels)
    if sample_size is None:
        n, hw = 1, None
    else:
        if len(sample_size) != 4 or int(sample_size[1]) != channels:
            raise ValueError(f"sample_size must be (N, {channels}, H, W) for this model, got {sample_size}.")
        n, hw = int(sample_size[0]), (int(sample_size[2]), int(sample_size[3]))
    sizes = pick_sizes(model, hw)
    return random_input((n, channels, *sizes.sample), device)


def random_input(shape: tuple[int, ...], device: torch.device | str = "cpu", seed: int = 0) -> torch.Tensor:
    """Standard-normal tensor of ``shape`` on ``device`` from a private generator: an export leaves the
    user's random stream (``torch.manual_seed``) where it was, and its check input is the same each time."""
    generator = torch.Generator().manual_seed(seed)
    # Drawn on the CPU (the generator's device), so no CUDA generator is touched either.
    return torch.randn(*shape, generator=generator).to(device)


def exported_config(model: nn.Module, config: Any) -> Any:
    """The ``config.json`` of an exported graph: the model's geometry (``config_with_geometry``) with
    ``min_side`` raised to the smallest side the graph runs on (``geometry.min_pass_side``: its pad
    multiple), for runners that read only ``min_side``. Eager PyTorch pads a
    small side by replicating, but a traced or exported graph always reflects, so onnxruntime run without
    unetkit failed on a 5-pixel side while config.json said ``min_side: 1`` (a trial)."""
    import dataclasses

    from unetkit.model_files.model_io import config_with_geometry

    geometry = model_geometry(model)
    smallest = geometry.min_pass_side
    if smallest <= geometry.min_side:
        return config_with_geometry(model, config)
    return dataclasses.replace(config, geometry=dataclasses.replace(geometry, min_side=smallest).to_dict())


def small_check_shape(model: nn.Module, config: Any) -> tuple[int, int, int, int] | None:
    """(1, C, s, s): the smallest input every predictor gives a dynamic-size net
    (:attr:`unetkit.geometry.ModelGeometry.min_pass_side`: a smaller image is mirror-padded up to it
    first); an export is checked on it too, so a graph that fails on small inputs is refused at export, not
    at the first small image. None for a fixed-size or unpadded net (its own size rules cover it)."""
    geometry = model_geometry(model)
    if geometry.fixed_input_size is not None or geometry.border > 0:
        return None
    side = geometry.input_side(geometry.min_pass_side)
    return (1, int(config.in_channels), side, side)


def check_small_input(
    model: nn.Module, config: Any, run: Any, what: str, atol: float
) -> tuple[tuple[int, ...], float] | None:
    """Run ``run(x: np.ndarray) -> logits`` on :func:`small_check_shape` and compare with eager PyTorch;
    a failure to run, or a difference above ``atol``, refuses the export (ValueError naming the shape).
    Returns (shape, max abs diff), or None where there is no such shape."""
    shape = small_check_shape(model, config)
    if shape is None:
        return None
    x = random_input(shape, model_device(model), seed=2)
    reference = eager_output(model, x)
    try:
        candidate = np.asarray(run(x.detach().cpu().numpy()))
    except Exception as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ValueError(
            f"{what} does not run on the smallest input predict gives it, shape {shape} ({first}); export "
            "refused and no file written."
        ) from exc
    diff = max_abs_diff(reference, candidate, what)
    check_agreement(diff, atol, what, shape)
    return shape, diff


def _torchscript_digest(path: Path) -> str | None:
    """:func:`~unetkit.model_files.model_io.weights_digest` of a TorchScript file's weights (None when it
    does not load)."""
    import warnings

    from unetkit.model_files.model_io import weights_digest

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation note
            return weights_digest(torch.jit.load(str(path), map_location="cpu"))
    except Exception:  # not a TorchScript file this torch reads: unknown
        return None


def check_export_model(model: object) -> None:
    """``model`` of an export call: an ``nn.Module``, else a TypeError naming how to load one (a path to a
    run or model folder had failed with "'str' object has no attribute 'state_dict'")."""
    if isinstance(model, nn.Module):
        return
    import os

    if isinstance(model, (str, os.PathLike)):
        got = f"the path {os.fspath(model)!r}"
        fix = f"model, config = load_model({os.fspath(model)!r})"
    else:
        got = f"{type(model).__name__} {model!r}"[:120]
        fix = "model, config = load_model('runs/RUN')"
    raise TypeError(
        f"model must be a model (torch.nn.Module), got {got}; load one from a run or model folder with "
        f"from unetkit.model_files.model_io import load_model; {fix} (or export from the command line: "
        "unetkit export RUN)"
    )


def check_export_folder(out_dir: Path, model: nn.Module) -> None:
    """Refuse to export ``model`` into a folder that holds another model's exported files
    (:func:`unetkit.inference.variants.foreign_files`): predict and serve would run whichever of the two is
    fastest. Exporting the same weights again (or in another format) into it is fine. A ``model`` that is
    no ``nn.Module`` (:func:`check_export_model`) and an ``out_dir`` that is a file are refused first."""
    from unetkit.inference.variants import TORCHSCRIPT_FILE, foreign_files
    from unetkit.model_files.model_config import CONFIG_NAME
    from unetkit.model_files.model_io import weights_digest

    check_export_model(model)
    out_dir = Path(out_dir)
    # As the CLI's --out: a file had met a bare FileExistsError (or NotADirectoryError under it).
    blocking = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        where = "is a file" if blocking == out_dir else f"is inside {blocking}, which is a file"
        raise ValueError(
            f"out_dir {out_dir} {where}; out_dir names a folder for the exported files: give a folder"
        )
    digest = weights_digest(model)
    found = foreign_files(Path(out_dir), digest)
    if TORCHSCRIPT_FILE in found and _torchscript_digest(Path(out_dir) / TORCHSCRIPT_FILE) == digest:
        # A TorchScript file written before its export was recorded: its own weights say whose it is.
        found.remove(TORCHSCRIPT_FILE)
        if found == [CONFIG_NAME]:
            found = []
    if found:
        shown = ", ".join(found[:6]) + (" ..." if len(found) > 6 else "")
        raise ValueError(
            f"{out_dir} holds another model's exported files ({shown}; deploy.json records other weights "
            f"or none for them); export into another folder (--out DIR), or remove {out_dir} first. Nothing "
            "was written."
        )


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder of ``folder``'s path that does not exist yet (what an export would create)."""
    missing = None
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _entries(folder: Path) -> set[str]:
    """Names in ``folder`` (none when it is not a folder)."""
    return {entry.name for entry in folder.iterdir()} if folder.is_dir() else set()


def _remove(path: Path) -> None:
    """Remove the file, link or folder tree ``path`` (gone already: nothing to do)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def remove_created_on_error(
    out_dir: Path, on: tuple[type[BaseException], ...] = (BaseException,)
) -> Iterator[None]:
    """A refused or interrupted export leaves nothing it created: when the block raises one of ``on``, a
    folder the block created (``out_dir`` and any parents it made) is removed with everything written into
    it, and in a folder that existed before, the entries that were not there before are removed. Its earlier
    contents stay (an export rewrites its own files in place: model.onnx of the same weights, deploy.json).
    An ``openvino`` export interrupted after its ONNX stage left a complete ONNX export nobody asked for."""
    out_dir = Path(out_dir)
    created = _first_missing(out_dir)
    before = _entries(out_dir)
    try:
        yield
    except on:
        if created is not None:
            _remove(created)
        else:
            for name in sorted(_entries(out_dir) - before):
                _remove(out_dir / name)
        raise


@contextlib.contextmanager
def quiet_loggers(names: tuple[str, ...], level: int = logging.ERROR) -> Iterator[None]:
    """Raise the level of the third-party loggers ``names`` to ``level`` during the block, then put back
    each level as it was. For exporters that log their internal fallbacks (onnxscript's version converter
    logs a full traceback when it cannot convert an opset) although the export goes on or is refused with
    unetkit's own one-line reason."""
    loggers = [logging.getLogger(name) for name in names]
    before = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(max(level, log.getEffectiveLevel()))
    try:
        yield
    finally:
        for log, was in zip(loggers, before):
            log.setLevel(was)
