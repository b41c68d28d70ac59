"""ONNX export with dynamic batch/height/width, verified against eager PyTorch with onnxruntime.

Exporter choice (measured with torch 2.14, onnxscript 0.7, onnxruntime 1.31): the default ``"auto"`` uses the
legacy TorchScript-based exporter (``dynamo=False``, deprecated since torch 2.9 but ~10x faster and still
maintained) with ``dynamic_axes``. If it cannot export the model (SegNet's ``MaxUnpool2d``), ``"auto"`` falls
back to the ``torch.export``-based exporter (``dynamo=True``, 10-70 s) with ``Dim.AUTO`` dynamic shapes.
``Dim.AUTO`` lets ``torch.export`` infer the divisibility constraints of U-Nets (H, W multiples of
``2**depth``) instead of failing on them, and marks an axis static only where the model really fixes it
(``fcn_reshape``). The fallback is skipped where it cannot help: an opset too low for one of the model's
ops, and a legacy file refused on accuracy at round-off level (both exporters' graphs give the same numbers).
The result records which exporter ran. Either way the file is only kept after onnxruntime reproduced PyTorch
on an input of another size and batch than the trace sample.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unetkit.export.common import (
    Disagreement,
    ExportResult,
    SampleSizes,
    atomic_output,
    check_agreement,
    check_export_folder,
    check_small_input,
    eager_output,
    eval_mode,
    exported_config,
    make_sample,
    max_abs_diff,
    model_device,
    pick_sizes,
    quiet_loggers,
    random_input,
    remove_created_on_error,
)
from unetkit.inference.variants import read_manifest, record_export_check, record_gate
from unetkit.model_files.model_config import CONFIG_NAME, ONNX_NAME, ModelConfig
from unetkit.model_files.model_io import weights_digest
from unetkit.options import look_up_option

logger = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
OPTIMIZED_ONNX_NAME = "model.optimized.onnx"
EXPORTERS = ("auto", "dynamo", "legacy")
AUTO_ORDER = ("legacy", "dynamo")
_AXES = {0: "batch", 2: "height", 3: "width"}
# torch.onnx's dynamo exporter implements opset 18 and up; a lower opset it converts down afterwards, which
# fails for a U-Net's Pad (onnx has no adapter) and then writes opset 18 anyway.
DYNAMO_MIN_OPSET = 18
# A legacy export refused on accuracy by at most this much computes the model to float32 round-off; the
# dynamo exporter's graph then gives the same numbers (onnxruntime outputs bitwise equal to the legacy
# graph's for unet, unet_original, encoder_decoder, fcn8s, wide_cnn and pixel_classifier, torch 2.14), so it
# would be refused on the same difference after 10-70 s: it is not tried. A larger difference may be a legacy
# exporter bug, which the dynamo exporter may not share.
ROUNDOFF_DIFF = 1e-4
# Loggers of the dynamo exporter's internals: its version converter logs a full traceback when it cannot
# convert (the export is then refused or falls back with unetkit's own one-line reason).
_EXPORTER_LOGGERS = ("onnxscript", "torch.onnx")


def opset_range() -> tuple[int, int]:
    """The ai.onnx opsets this torch's ONNX exporters write: (lowest, highest)."""
    try:
        from torch.onnx import _constants

        return int(_constants.ONNX_MIN_OPSET), int(_constants.ONNX_MAX_OPSET)
    except (ImportError, AttributeError):  # a torch that moved them: the range measured with torch 2.14
        return 7, 23


def check_opset(opset: int) -> int:
    """``opset`` when this torch's ONNX exporters write it; checked before anything is exported.

    Raises:
        ValueError: naming the opsets that can be written.
    """
    low, high = opset_range()
    if isinstance(opset, bool) or not isinstance(opset, int) or not low <= opset <= high:
        raise ValueError(
            f"ONNX opset {opset!r} cannot be exported: torch {torch.__version__} writes opsets {low}-{high} "
            f"(U-Nets need 11 or above; the dynamo exporter writes {DYNAMO_MIN_OPSET} and above; default 17)."
        )
    return opset


class OpsetTooLow(ValueError):
    """The legacy exporter cannot write one of the model's ops at the asked opset: ``op`` names it (as torch
    does: "Pad", "Slice with dynamic inputs"), ``why`` is torch's reason or "", ``needed`` the opset torch
    names for it (None when it names none)."""

    def __init__(self, op: str, why: str, needed: int | None) -> None:
        at = f"opset {needed}" if needed else "a higher opset"
        super().__init__(f"{op} needs {at}" + (f" ({why})" if why else ""))
        self.op, self.why, self.needed = op, why, needed


# torch's wordings (symbolic_helper, errors.UnsupportedOperatorError, symbolic_opset9.slice) for an op that
# needs a higher opset than asked: the opset it names, and the op.
_NEEDS_OPSET = re.compile(
    r"Please try opset version (\d+)"
    r"|Support for this operator was added in version (\d+)"
    r"|higher opset version"
)
_OP = re.compile(r"ONNX export of (.+?)(?: in opset \d+)?\.(?: (.+?)\. Please try)?|the operator '([^']+)'")


def opset_too_low(exc: BaseException) -> OpsetTooLow | None:
    """``exc`` (a legacy exporter error) as :class:`OpsetTooLow` when it says an op needs a higher opset."""
    message = str(exc).split("  [Caused by", 1)[0]
    needs = _NEEDS_OPSET.search(message)
    if needs is None:
        return None
    named = _OP.search(message)
    op = (named[1] or named[3]) if named else "an op"
    why = named[2] if named and named[2] else ""
    needed = needs[1] or needs[2]
    return OpsetTooLow(op, why[:1].lower() + why[1:], int(needed) if needed else None)


class OpsetMismatch(ValueError):
    """An exporter wrote another opset than asked for (the dynamo exporter converts down from 18)."""

    def __init__(self, exporter: str, written: int, asked: int) -> None:
        super().__init__(f"the {exporter} exporter wrote opset {written} instead of {asked}")
        self.written = written


def _record_opset(out_dir: Path, key: str, opset: int) -> None:
    """Add the ai.onnx ``opset`` written to the ``key`` entry (``onnxruntime-fp32``) of ``deploy.json``."""
    entry = read_manifest(out_dir)["variants"].get(key)
    if isinstance(entry, dict):
        record_gate(out_dir, key, {**entry, "opset": int(opset)})


def _export_dynamo(model: nn.Module, sample: torch.Tensor, path: Path, opset: int, dynamic_hw: bool) -> None:
    from torch.export import Dim

    axes: dict[int, Any] = {0: Dim.AUTO}
    if dynamic_hw:
        axes.update({2: Dim.AUTO, 3: Dim.AUTO})
    program = torch.onnx.export(
        model,
        (sample,),
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        opset_version=opset,
        dynamic_shapes=({**axes},),
        verbose=False,
    )
    if program is None:  # only None when f= is given; keeps mypy and future APIs honest
        raise RuntimeError("torch.onnx.export(dynamo=True) returned no ONNXProgram")
    # One self-contained file: the onnxruntime predictor loads model.onnx alone (U-Nets are far below 2 GB).
    program.save(str(path), external_data=False)


@contextlib.contextmanager
def _hold_native_stdout() -> Iterator[None]:
    """What native code writes to standard output during the block is held in a temporary file: written out
    after the block if it finishes, dropped if it raises.

    torch's legacy exporter switches its C++ ONNX log on for every export (torch 2.14's
    ``setup_onnx_logging`` tests the function ``_C._jit_is_onnx_log_enabled``, always true, instead of calling
    it), so an op the opset lacks printed the whole TorchScript graph (hundreds of lines) on stdout before the
    Python error. A C++ stream cannot be filtered from Python: file descriptor 1 points at the file for the
    call and is restored after it, on Ctrl-C too. Exports run on one thread; another thread's output during
    the call would be held or dropped with it."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (AttributeError, OSError, ValueError):  # no standard output to keep clean
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 1)
        finished = False
        try:
            yield
            finished = True
        finally:
            with contextlib.suppress(Exception):  # Python's buffered text belongs to the block as well
                sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        held.seek(0)
        data = held.read() if finished else b""
        while data:
            data = data[os.write(1, data) :]


def _export_legacy(model: nn.Module, sample: torch.Tensor, path: Path, opset: int, dynamic_hw: bool) -> None:
    in_axes = dict(_AXES) if dynamic_hw else {0: "batch"}
    # Output H/W get their own names: valid-convolution U-Nets return smaller maps than their input.
    out_axes = {i: _OUTPUT_AXIS_NAMES[i] for i in ((0, 2, 3) if dynamic_hw else (0,))}
    with warnings.catch_warnings(), _hold_native_stdout():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*legacy TorchScript.*")
        try:
            torch.onnx.export(
                model,
                (sample,),
                str(path),
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                dynamic_axes={INPUT_NAME: in_axes, OUTPUT_NAME: out_axes},
            )
        except torch.onnx.errors.OnnxExporterError as exc:
            too_low = opset_too_low(exc)
            if too_low is not None:
                raise too_low from exc
            raise


# The names the saved graph's axes get (:func:`_name_axes`), by position; output H/W have their own
# names since valid-convolution U-Nets return smaller maps than their input.
_INPUT_AXIS_NAMES = ("batch", "channels", "height", "width")
_OUTPUT_AXIS_NAMES = ("batch", "classes", "out_height", "out_width")


def _name_axes(path: Path, classes: int) -> None:
    """Give the symbolic axes of the graph's input and output at ``path`` clear names (batch, height, width,
    out_height, out_width), and the output's class axis its size ``classes``, in place.

    The exporters' own names leak internals: the dynamo exporter calls them ``s77`` or ``u20 - 4``, and the
    legacy one leaves the class axis symbolic after a U-Net's Pad as ``Padlogits_dim_1``. A symbol the output
    shares with the input keeps the input's name (a padded U-Net's output height is its input height)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    graph = proto.graph
    names: dict[str, str] = {}
    for value, wanted in ((graph.input[0], _INPUT_AXIS_NAMES), (graph.output[0], _OUTPUT_AXIS_NAMES)):
        for i, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.HasField("dim_param") and i < len(wanted):
                names.setdefault(dim.dim_param, wanted[i])
    changed = False
    class_axis = graph.output[0].type.tensor_type.shape.dim
    if len(class_axis) > 1 and class_axis[1].HasField("dim_param"):
        class_axis[1].dim_value = classes  # the class count is fixed: no symbol at all
        changed = True
    # value_info too: a symbol keeps one name wherever the graph states it.
    for value in [*graph.input, *graph.output, *graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and names.get(dim.dim_param, dim.dim_param) != dim.dim_param:
                dim.dim_param = names[dim.dim_param]
                changed = True
    if changed:
        onnx.save(proto, str(path))


def _onnx_dynamic_axes(path: Path) -> tuple[list[str], int]:
    """Names of the input axes left symbolic in the saved graph, and its ai.onnx opset."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    names = _INPUT_AXIS_NAMES
    dynamic = [names[i] for i, d in enumerate(dims) if i < len(names) and not d.HasField("dim_value")]
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), -1)
    return dynamic, int(opset)


def run_onnxruntime(path: Path, x: np.ndarray) -> np.ndarray:
    """Logits of the ONNX model at ``path`` for ``x`` (N, C, H, W) float32 on onnxruntime's CPU provider."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    try:
        (out,) = session.run([OUTPUT_NAME], {INPUT_NAME: x})
    except Exception as exc:  # onnxruntime raises its own untyped errors (Fail, InvalidArgument, ...)
        raise ValueError(f"onnxruntime could not run {path.name} on shape {x.shape}: {exc}") from exc
    return np.asarray(out)


def _save_ort_optimized(src: Path, dst: Path) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # BASIC only: extended/all levels insert CPU-specific fused kernels, which would tie the file to one
    # provider; basic (constant folding, redundant node removal) stays portable.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])


def _attempt(
    model: nn.Module,
    config: ModelConfig,
    exporter: str,
    sample: torch.Tensor,
    sizes: SampleSizes,
    tmp: Path,
    opset: int,
    dynamic: bool,
    verify: bool,
    atol: float,
) -> tuple[list[str], int, tuple[int, ...] | None, float | None]:
    """Export with one exporter into ``tmp`` and verify it: (dynamic axes, opset, verify shape, diff)."""
    dynamic_hw = dynamic and sizes.dynamic_hw
    tmp.unlink(missing_ok=True)
    if exporter == "dynamo":
        with quiet_loggers(_EXPORTER_LOGGERS):
            _export_dynamo(model, sample, tmp, opset, dynamic_hw)
    else:
        _export_legacy(model, sample, tmp, opset, dynamic_hw)
    _name_axes(tmp, config.num_classes)  # models return (N, num_classes, H, W): no extra forward pass
    axes, saved_opset = _onnx_dynamic_axes(tmp)
    if saved_opset != opset:
        # Never kept: a file of another opset than asked for is not the export that was asked for.
        raise OpsetMismatch(exporter, saved_opset, opset)
    hw_dynamic = {"height", "width"} <= set(axes)
    if dynamic_hw and not hw_dynamic:
        logger.warning("the %s exporter fixed H/W of %r to %s", exporter, config.architecture, sizes.sample)
    if not verify:
        return axes, saved_opset, None, None
    hw = sizes.verify if hw_dynamic else sizes.sample
    verify_shape = (2 if "batch" in axes else int(sample.shape[0]), config.in_channels, *hw)
    x = random_input(verify_shape, seed=1)
    diff = max_abs_diff(eager_output(model, x), run_onnxruntime(tmp, x.numpy()), "onnxruntime")
    what = f"ONNX export ({exporter} exporter) of {config.architecture!r}"
    check_agreement(diff, atol, what, verify_shape)
    if hw_dynamic:
        check_small_input(model, config, lambda a: run_onnxruntime(tmp, a), what, atol)
    return axes, saved_opset, verify_shape, diff


def _no_other_exporter_helps(exc: Exception, architecture: str, opset: int) -> Exception | None:
    """The refusal that ends an export at once, without the next exporter, or None to try it.

    * an op the opset lacks (:class:`OpsetTooLow`): the dynamo exporter writes opset 18 and converts down, and
      the down-conversion needs that op at the lower opset too (measured: it wrote 18 for unet at 9/10,
      unet_original at 9, encoder_decoder and fcn8s at 10, after 9-22 s each);
    * a file refused on accuracy by round-off only (:data:`ROUNDOFF_DIFF`): the dynamo graph gives the same
      numbers.
    """
    if isinstance(exc, OpsetTooLow):
        fix = f"use --opset {exc.needed} or higher" if exc.needed else "use a higher --opset"
        return ValueError(
            f"ONNX opset {opset} is too low for {architecture!r}: its {exc}; {fix} (default 17). Export "
            "refused and no file written."
        )
    if isinstance(exc, Disagreement) and exc.diff <= ROUNDOFF_DIFF:
        return exc
    return None


def export_onnx(
    model: nn.Module,
    config: ModelConfig,
    out_dir: str | Path,
    opset: int = 17,
    dynamic: bool = True,
    verify: bool = True,
    atol: float = 1e-4,
    sample_size: tuple[int, int, int, int] | None = None,
    exporter: str = "auto",
    optimize: bool = False,
) -> ExportResult:
    """Write ``out_dir/model.onnx`` (+ ``config.json``) with dynamic batch and, where possible, H/W axes.

    ``sample_size`` (N, C, H, W) is the trace input; default ``(1, C, 64, 64)`` moved to a size the model
    accepts (see :func:`unetkit.export.common.pick_sizes`). With ``verify`` the graph is run by onnxruntime on
    a random input with another batch and H/W; if the max abs difference to eager PyTorch exceeds ``atol``
    the export is refused: ``ValueError`` and no ``model.onnx`` left behind. ``exporter="auto"`` tries the
    legacy exporter, then dynamo (see the module docstring); ``"legacy"``/``"dynamo"`` force one.
    ``optimize`` also writes ``model.optimized.onnx`` (onnxruntime basic graph optimisations), verified too.
    """
    exporter = look_up_option(exporter, EXPORTERS, name="ONNX exporter")
    check_opset(opset)  # before anything is exported or written
    if atol < 0:
        raise ValueError(f"atol must be >= 0, got {atol}.")
    out_dir = Path(out_dir)
    check_export_folder(out_dir, model)  # before anything is written
    final = out_dir / ONNX_NAME
    candidates = list(AUTO_ORDER) if exporter == "auto" else [exporter]
    start = time.perf_counter()
    with eval_mode(model), remove_created_on_error(out_dir):
        sample = make_sample(model, config, sample_size, model_device(model))
        sizes = pick_sizes(model, (sample.shape[2], sample.shape[3]))
        errors: list[str] = []
        written: list[int] = []  # opsets an exporter wrote instead of the one asked for
        with atomic_output(final) as tmp:
            for i, used in enumerate(candidates):
                try:
                    axes, saved_opset, verify_shape, diff = _attempt(
                        model, config, used, sample, sizes, tmp, opset, dynamic, verify, atol
                    )
                    break
                except Exception as exc:
                    final_refusal = _no_other_exporter_helps(exc, config.architecture, opset)
                    if final_refusal is exc:
                        raise
                    if final_refusal is not None:
                        raise final_refusal from exc
                    if isinstance(exc, OpsetMismatch):
                        written.append(exc.written)
                    elif len(candidates) == 1 and isinstance(exc, ValueError):
                        raise
                    first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
                    if i + 1 < len(candidates):
                        # Said before the next try: the dynamo exporter alone takes 10-70 s.
                        logger.warning(
                            "%s ONNX exporter failed for %r: %s; trying the %s exporter (slower: up to a "
                            "minute or more)", used, config.architecture, first, candidates[i + 1],
                        )  # fmt: skip
                    errors.append(f"{used}: {first}")
            else:
                high = opset_range()[1]
                skipped = f"; opsets {min(written)}-{high} work with the dynamo exporter" if written else ""
                raise ValueError(
                    f"ONNX export of {config.architecture!r} at opset {opset} failed with "
                    + ("every exporter" if len(candidates) > 1 else f"the {candidates[0]} exporter")
                    + f": {' | '.join(errors)}{skipped}; export refused and no file written."
                )
            extra: dict[str, Any] = {"opset": saved_opset, "failed_exporters": errors}
            if optimize:
                extra.update(_optimize(tmp, out_dir / OPTIMIZED_ONNX_NAME, model, verify_shape, atol, config))
        # Inside the guard: an interrupt while these are written leaves no half export in a new folder.
        config_path = exported_config(model, config).save(out_dir / CONFIG_NAME)
        record_export_check(out_dir, "onnxruntime", diff, atol, verify_shape, weights_digest(model))
        _record_opset(out_dir, "onnxruntime-fp32", saved_opset)
    seconds = time.perf_counter() - start
    logger.info(
        "exported %s to %s with the %s exporter in %.1f s (max abs diff %s)",
        config.architecture,
        final,
        used,
        seconds,
        diff,
    )
    return ExportResult(
        path=final,
        config_path=config_path,
        format="onnx",
        exporter=used,
        sample_shape=tuple(sample.shape),
        verify_shape=verify_shape,
        max_abs_diff=diff,
        dynamic_axes=axes,
        seconds=seconds,
        extra=extra,
    )


def _optimize(
    src: Path,
    dst: Path,
    model: nn.Module,
    verify_shape: tuple[int, ...] | None,
    atol: float,
    config: ModelConfig,
) -> dict[str, Any]:
    """Write the onnxruntime-optimised copy of ``src`` to ``dst`` (verified when ``verify_shape`` is set)."""
    info: dict[str, Any] = {"optimized_path": dst}
    with atomic_output(dst) as tmp:
        _save_ort_optimized(src, tmp)
        if verify_shape is not None:
            x = random_input(verify_shape, seed=1)
            diff = max_abs_diff(
                eager_output(model, x), run_onnxruntime(tmp, x.numpy()), "optimised onnxruntime"
            )
            check_agreement(diff, atol, f"optimised ONNX of {config.architecture!r}", verify_shape)
            info["optimized_max_abs_diff"] = diff
    return info
