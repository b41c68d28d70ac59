"""OpenVINO export: the verified ONNX export converted to an OpenVINO IR (``model.xml`` + ``model.bin``).

OpenVINO's ONNX reader (``ov.Core().read_model``) reads the ONNX graph with its dynamic batch/height/width
axes, so the IR keeps them. It is the same ONNX frontend ``openvino.convert_model`` uses, without the model
conversion API's usage telemetry: ``convert_model`` starts an ``openvino_telemetry`` session (a network
lookup to Google Analytics, a usage counter under ``~/intel``) on every call, which unetkit never asks for.
``ov.save_model`` applies the same offline transformations as a converted model gets;
``save_model(..., compress_to_fp16=False)`` keeps fp32 weights (the default would store fp16). The IR is then
run by OpenVINO (fp32 inference precision) on an input of another batch and size than the trace and
refused, leaving no file, when it differs from eager PyTorch by more than ``atol``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from torch import nn

from unetkit.export.common import (
    ExportResult,
    atomic_output,
    check_agreement,
    check_small_input,
    eager_output,
    eval_mode,
    max_abs_diff,
    pick_sizes,
    random_input,
    remove_created_on_error,
)
from unetkit.export.onnx import _record_opset, export_onnx
from unetkit.inference.variants import OPENVINO_NAME, record_export_check
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import weights_digest

logger = logging.getLogger(__name__)


def convert_onnx(onnx_path: Path, xml_path: Path) -> None:
    """Write the fp32 OpenVINO IR of ``onnx_path`` to ``xml_path`` (and its ``.bin`` beside it).

    Read with the runtime's ONNX frontend, not ``ov.convert_model``: that one sends usage telemetry (see the
    module docstring)."""
    import openvino as ov

    ov_model = ov.Core().read_model(str(onnx_path))
    ov.save_model(ov_model, str(xml_path), compress_to_fp16=False)


def run_openvino(xml_path: Path, x: np.ndarray, precision: str = "fp32") -> np.ndarray:
    """Logits of the IR at ``xml_path`` for ``x`` (N, C, H, W) float32 with OpenVINO on the CPU."""
    from unetkit.inference.ov_backend import compile_openvino

    compiled = compile_openvino(xml_path, precision)
    try:
        out = compiled({0: np.ascontiguousarray(x, dtype=np.float32)})[0]
    except Exception as exc:  # OpenVINO raises its own RuntimeError subclasses for shape errors
        raise ValueError(f"OpenVINO could not run {xml_path.name} on shape {x.shape}: {exc}") from exc
    return np.array(out, dtype=np.float32, copy=True)


def export_openvino(
    model: nn.Module,
    config: ModelConfig,
    out_dir: str | Path,
    verify: bool = True,
    atol: float = 1e-4,
    sample_size: tuple[int, int, int, int] | None = None,
    opset: int = 17,
    exporter: str = "auto",
) -> ExportResult:
    """Write ``out_dir/model.xml`` + ``model.bin`` (fp32 IR with the dynamic axes of the ONNX export).

    The ONNX export (:func:`~unetkit.export.onnx.export_onnx`, itself verified with onnxruntime) is written
    to ``out_dir/model.onnx`` first and converted. With ``verify`` the IR runs in OpenVINO on a random input
    of another batch and H/W than the trace; a max abs difference to eager PyTorch above ``atol`` raises
    ``ValueError`` and leaves no ``model.xml``/``model.bin``.
    """
    if atol < 0:
        raise ValueError(f"atol must be >= 0, got {atol}.")
    out_dir = Path(out_dir)
    start = time.perf_counter()
    with remove_created_on_error(out_dir):
        return _export_openvino(model, config, out_dir, verify, atol, sample_size, opset, exporter, start)


def _export_openvino(
    model: nn.Module,
    config: ModelConfig,
    out_dir: Path,
    verify: bool,
    atol: float,
    sample_size: tuple[int, int, int, int] | None,
    opset: int,
    exporter: str,
    start: float,
) -> ExportResult:
    onnx_result = export_onnx(
        model,
        config,
        out_dir,
        opset=opset,
        verify=verify,
        atol=atol,
        sample_size=sample_size,
        exporter=exporter,
    )
    final_xml = out_dir / OPENVINO_NAME
    final_bin = final_xml.with_suffix(".bin")
    diff: float | None = None
    verify_shape: tuple[int, ...] | None = None
    with eval_mode(model), tempfile.TemporaryDirectory(prefix=".openvino.", dir=out_dir) as work:
        # OpenVINO writes the .bin next to the .xml under the same stem: convert in a scratch folder, then
        # move both files into place only once verified (bin first, so model.xml never points at an old bin).
        tmp_xml = Path(work) / OPENVINO_NAME
        convert_onnx(onnx_result.path, tmp_xml)
        with atomic_output(final_xml) as xml_out, atomic_output(final_bin) as bin_out:
            if verify:
                hw_dynamic = {"height", "width"} <= set(onnx_result.dynamic_axes)
                sizes = pick_sizes(model, tuple(onnx_result.sample_shape[2:]))  # type: ignore[arg-type]
                hw = sizes.verify if hw_dynamic else sizes.sample
                # Another batch and size than the ONNX check too: 3 instead of its 2.
                batch = 3 if "batch" in onnx_result.dynamic_axes else int(onnx_result.sample_shape[0])
                verify_shape = (batch, config.in_channels, *hw)
                x = random_input(verify_shape, seed=1)
                diff = max_abs_diff(eager_output(model, x), run_openvino(tmp_xml, x.numpy()), "OpenVINO")
                what = f"OpenVINO export of {config.architecture!r}"
                check_agreement(diff, atol, what, verify_shape)
                if hw_dynamic:
                    check_small_input(model, config, lambda a: run_openvino(tmp_xml, a), what, atol)
            tmp_xml.with_suffix(".bin").replace(bin_out)
            tmp_xml.replace(xml_out)
    record_export_check(out_dir, "openvino", diff, atol, verify_shape, weights_digest(model))
    opset = int(onnx_result.extra["opset"])
    _record_opset(out_dir, "openvino-fp32", opset)  # the opset of the ONNX graph the IR was converted from
    seconds = time.perf_counter() - start
    logger.info(
        "exported %s to %s in %.1f s (max abs diff %s)", config.architecture, final_xml, seconds, diff
    )
    return ExportResult(
        path=final_xml,
        config_path=onnx_result.config_path,
        format="openvino",
        exporter=f"openvino read_model (ONNX: {onnx_result.exporter})",
        sample_shape=onnx_result.sample_shape,
        verify_shape=verify_shape,
        max_abs_diff=diff,
        dynamic_axes=onnx_result.dynamic_axes,
        seconds=seconds,
        extra={"onnx_path": onnx_result.path, "onnx_max_abs_diff": onnx_result.max_abs_diff, "opset": opset},
    )
